using System.Text.Json.Nodes;
using AyTrack.Core.Settings;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class SettingsDocumentTests
{
    [Fact]
    public void The_settings_model_is_immutable_so_one_instance_can_be_shared_by_every_actor()
    {
        Type[] types = [typeof(OperatorSettings), typeof(RelaySettings), typeof(TrustedCertificate), typeof(TimingSettings),
            typeof(ScheduleSettings), typeof(ScheduleWindow)];
        foreach (var property in types.SelectMany(t => t.GetProperties()))
        {
            var setter = property.SetMethod;
            var initOnly = setter is null || setter.ReturnParameter.GetRequiredCustomModifiers()
                .Contains(typeof(System.Runtime.CompilerServices.IsExternalInit));
            Assert.True(initOnly, $"{property.DeclaringType!.Name}.{property.Name} can be set after construction");
            Assert.False(property.PropertyType.IsGenericType && property.PropertyType.GetGenericTypeDefinition() == typeof(List<>),
                $"{property.DeclaringType!.Name}.{property.Name} is a mutable list");
        }
    }

    [Fact]
    public void The_JSON_has_the_design_paths_and_never_the_password()
    {
        var settings = new OperatorSettings { Relay = new RelaySettings { Password = new Secret("hunter2") } };

        var json = SettingsDocument.ToJson(settings).ToJsonString();

        Assert.DoesNotContain("hunter2", json);
        var node = JsonNode.Parse(json)!;
        Assert.Equal("Direct", (string?)node["mode"]);
        Assert.True((bool?)node["relay"]!["passwordSet"]);
        Assert.Equal(10, (int?)node["timing"]!["threads"]);
        Assert.Equal(5.0, (double?)node["timing"]!["retryDays"]);
        Assert.Equal("UTC", (string?)node["timing"]!["schedule"]!["timeZone"]);
        Assert.Equal("***", settings.Relay.Password.ToString());
    }

    [Fact]
    public void A_merge_patch_changes_only_what_it_names_and_enums_take_any_case()
    {
        var current = new OperatorSettings { Relay = new RelaySettings { Host = "smtp.example.test", Password = new Secret("old") } };

        var (settings, errors) = SettingsDocument.ApplyPatch(current, JsonNode.Parse("""
            { "mode": "relayall", "relay": { "tls": "starttls", "port": 587 }, "timing": { "threads": 20, "retryDays": 0.5 } }
            """));

        Assert.Empty(errors);
        Assert.Equal(DeliveryMode.RelayAll, settings!.Mode);
        Assert.Equal(RelayTls.StartTls, settings.Relay.Tls);
        Assert.Equal(587, settings.Relay.Port);
        Assert.Equal("smtp.example.test", settings.Relay.Host);
        Assert.Equal("old", settings.Relay.Password.Reveal());
        Assert.Equal(20, settings.Timing.Threads);
        Assert.Equal(0.5, settings.Timing.RetryDays);
        Assert.Equal(10, current.Timing.Threads);
    }

    [Fact]
    public void The_password_is_written_through_relay_password_and_cleared_with_null()
    {
        var current = new OperatorSettings();
        var (set, _) = SettingsDocument.ApplyPatch(current, JsonNode.Parse("""{ "relay": { "password": "s3cret" } }"""));
        var (cleared, _) = SettingsDocument.ApplyPatch(set!, JsonNode.Parse("""{ "relay": { "password": null } }"""));

        Assert.Equal("s3cret", set!.Relay.Password.Reveal());
        Assert.False(cleared!.Relay.Password.IsSet);
    }

    [Fact]
    public void Every_invalid_value_is_reported_under_its_JSON_path()
    {
        var (settings, errors) = SettingsDocument.ApplyPatch(new OperatorSettings(), JsonNode.Parse("""
            {
              "mode": "Carrier pigeon",
              "relay": { "port": 70000, "passwordSet": false, "requiresAuth": "yes" },
              "timing": {
                "threads": 0, "maxLoadPerHour": -1, "retryDays": 0, "colour": "red",
                "schedule": { "timeZone": "Mars/Olympus", "windows": [ { "days": ["Mon", "Funday"], "start": "25:00", "end": "17:00" } ] }
              },
              "trustedCertificates": [ { "kind": "Pinned", "sha256": "abc", "subject": "CN=x" } ]
            }
            """));

        Assert.Null(settings);
        Assert.Equal(
        [
            "mode", "relay.passwordSet", "relay.port", "relay.requiresAuth", "timing.colour", "timing.maxLoadPerHour",
            "timing.retryDays", "timing.schedule.timeZone", "timing.schedule.windows[0].days", "timing.schedule.windows[0].start",
            "timing.threads", "trustedCertificates[0].sha256",
        ], errors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["must be between 1 and 500"], errors["timing.threads"]);
    }

    [Fact]
    public void A_relay_mode_needs_a_relay_host()
    {
        var (_, errors) = SettingsDocument.ApplyPatch(new OperatorSettings(), JsonNode.Parse("""{ "mode": "DirectThenRelay" }"""));

        Assert.Equal(["is required when mode is DirectThenRelay"], errors["relay.host"]);
    }
}

public sealed class SecretBoxTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Secrets_round_trip_never_appear_in_the_sealed_text_and_the_key_file_is_owner_only()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-key").FullName;
        var keyFile = Path.Combine(dir, "secrets.key");
        var box = SecretBox.LoadOrCreate(keyFile);

        var sealedText = box.Seal(new Secret("hunter2"));
        var again = SecretBox.LoadOrCreate(keyFile);

        Assert.DoesNotContain("hunter2", sealedText);
        Assert.NotEqual(sealedText, box.Seal(new Secret("hunter2")));
        Assert.Equal("hunter2", again.Open(sealedText).Reveal());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Directory.Delete(dir, true);
    }
}
