using AyTrack.Core.Settings;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>Enums, duplicate keys and entity tags read the strict way the admin API needs.</summary>
public sealed class StrictInputTests
{
    [Theory]
    [InlineData("RelayAll", true)]
    [InlineData("relayall", true)]
    [InlineData("DirectThenRelay, RelayAll", false)]
    [InlineData("3", false)]
    [InlineData("-1", false)]
    [InlineData(" Direct", false)]
    [InlineData("", false)]
    public void Enums_are_their_names_in_any_case_and_nothing_else(string text, bool accepted) =>
        Assert.Equal(accepted, EnumNames.TryParse<DeliveryMode>(text, out _));

    [Fact]
    public void A_combined_mode_in_a_patch_is_an_error_at_its_path()
    {
        var (settings, errors) = SettingsDocument.ApplyPatch(new OperatorSettings(),
            System.Text.Json.Nodes.JsonNode.Parse("""{"mode":"DirectThenRelay, RelayAll","relay":{"host":"r.test"}}"""));

        Assert.Null(settings);
        Assert.Contains("mode", errors.Keys);
    }

    [Theory]
    [InlineData("""{"a":1,"a":2}""", "a")]
    [InlineData("""{"timing":{"threads":4,"threads":5}}""", "timing.threads")]
    [InlineData("""{"trustedCertificates":[{"kind":"Ca","kind":"Pinned"}]}""", "trustedCertificates[].kind")]
    [InlineData("""{"a":{"b":1},"c":{"b":2}}""", null)]
    [InlineData("""[{"a":1},{"a":2}]""", null)]
    [InlineData("""{"a":""", null)]
    public void The_first_duplicate_key_is_named_by_its_path(string json, string? expected) =>
        Assert.Equal(expected, JsonDuplicateKeys.Find(System.Text.Encoding.UTF8.GetBytes(json)));

    [Theory]
    [InlineData("\"v7\"", true)]
    [InlineData("\"v3\", \"v7\"", true)]
    [InlineData("W/\"v7\"", false)]
    [InlineData("v7", false)]
    [InlineData("7", false)]
    [InlineData("\"v8\"", false)]
    public void If_Match_holds_only_with_the_current_tag_compared_strongly(string header, bool matches) =>
        Assert.Equal(matches, SettingsETag.Matches(header, 7));

    [Fact]
    public void A_star_matches_any_version() => Assert.True(SettingsETag.IsAny("*") && SettingsETag.Matches("*", 12) && !SettingsETag.IsAny("\"v1\""));
}
