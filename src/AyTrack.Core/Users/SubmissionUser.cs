using AyTrack.Core.Addresses;

namespace AyTrack.Core.Users;

/// <summary>
/// A login of the submission listeners (AUTH PLAIN / LOGIN, RFC 4954). The password is kept only as
/// <see cref="PasswordHash"/> (<see cref="PasswordHashing"/>); <see cref="SenderDomains"/>, when not empty, are the
/// only domains its MAIL FROM may use, so one leaked login cannot send as every domain.
/// </summary>
public sealed record SubmissionUser(
    string Name,
    string PasswordHash,
    IReadOnlyList<string> SenderDomains,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>
    /// Whether this user may use <paramref name="sender"/> as MAIL FROM: any address when no domain is set; otherwise
    /// only addresses whose domain is one of them exactly (a subdomain is a domain of its own). The null reverse-path
    /// names no domain and is always allowed (delivery reports, RFC 5321 §4.5.5).
    /// </summary>
    public bool MaySendFrom(string sender)
    {
        if (SenderDomains.Count == 0 || sender.Length == 0)
        {
            return true;
        }

        return EmailAddress.TryParse(sender, out var address, out _) && SenderDomains.Contains(address.Domain.Value, StringComparer.Ordinal);
    }
}
