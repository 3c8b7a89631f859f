namespace AyTrack.Node.Admin;

/// <summary>The status an admin-API request gets when an endpoint throws.</summary>
public static class AdminErrors
{
    public static int StatusFor(Exception error) => error switch
    {
        // A body over its limit surfaces as Kestrel's BadHttpRequestException: its status (413), not 500.
        BadHttpRequestException bad => bad.StatusCode,
        // An actor that did not answer in time (a singleton moving, a shard starting, the cluster still forming) is
        // a temporary state of the node, not a fault of the request: 503, try again.
        Akka.Actor.AskTimeoutException or TimeoutException => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };
}
