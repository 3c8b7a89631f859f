using AyTrack.Core.Settings;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class SettingsPatchSealingTests
{
    private static readonly SecretBox Secrets = SecretBox.LoadOrCreate(Path.Combine(Directory.CreateTempSubdirectory("aytrack-key").FullName, "secrets.key"));

    [Fact]
    public void The_password_leaves_the_patch_and_comes_back_sealed()
    {
        var (sealedPatch, errors) = SettingsPatchSealing.Seal("""{"relay":{"port":587,"password":"s3cret"}}""", Secrets);

        Assert.Empty(errors);
        Assert.Equal("""{"relay":{"port":587}}""", sealedPatch!.Patch);
        Assert.Equal("s3cret", Secrets.Open(sealedPatch.SealedPassword!).Reveal());
    }

    [Fact]
    public void Null_clears_the_password_and_a_patch_without_one_passes_unchanged()
    {
        var (cleared, _) = SettingsPatchSealing.Seal("""{"relay":{"password":null}}""", Secrets);
        var (untouched, _) = SettingsPatchSealing.Seal("""{ "timing": { "threads": 4 } }""", Secrets);

        Assert.False(Secrets.Open(cleared!.SealedPassword!).IsSet);
        Assert.Equal("""{ "timing": { "threads": 4 } }""", untouched!.Patch);
        Assert.Null(untouched.SealedPassword);
    }

    [Theory]
    [InlineData("""{"relay":{"password":42}}""", "relay.password")]
    [InlineData("""{"relay":{"password":"x" """, "$")]
    public void A_password_that_is_not_a_string_or_a_body_that_is_not_json_stops_here(string body, string path)
    {
        var (result, errors) = SettingsPatchSealing.Seal(body, Secrets);

        Assert.Null(result);
        Assert.Contains(path, errors.Keys);
    }

    [Fact]
    public void A_sealed_text_from_another_key_or_a_forged_one_does_not_open()
    {
        var other = SecretBox.LoadOrCreate(Path.Combine(Directory.CreateTempSubdirectory("aytrack-key").FullName, "secrets.key"));

        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => Secrets.Open(other.Seal(new Secret("x"))));
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => Secrets.Open("not base64!"));
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => Secrets.Open("AAAA"));
    }
}
