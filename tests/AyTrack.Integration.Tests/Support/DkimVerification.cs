using System.Diagnostics;
using System.Text.Json;
using AyTrack.Loopback;
using DnsClient;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Xunit;

namespace AyTrack.Integration.Tests.Support;

/// <summary>Checks a received message's DKIM signatures as receivers would.</summary>
public static class DkimVerification
{
    /// <summary>Verifies every signature with dkimpy (Debian's python3-dkim, python3-nacl for Ed25519); keys from <paramref name="records"/>.</summary>
    public static async Task<string> DkimpyAsync(byte[] message, IReadOnlyDictionary<string, string> records)
    {
        const string Script = """
            import dkim, json, sys
            records = json.loads(sys.argv[1])
            data = sys.stdin.buffer.read()
            def dns(name, timeout=5):
                return records.get(name.decode().rstrip('.'), '').encode()
            count = sum(1 for line in data.split(b'\r\n\r\n')[0].split(b'\r\n') if line.lower().startswith(b'dkim-signature:'))
            ok = [dkim.DKIM(data).verify(idx=i, dnsfunc=dns) for i in range(count)]
            print(f"{sum(ok)} verified" if all(ok) else f"failed: {ok}")
            """;
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Script);
        start.ArgumentList.Add(JsonSerializer.Serialize(records));
        using var process = Process.Start(start)!;
        await process.StandardInput.BaseStream.WriteAsync(message);
        process.StandardInput.Close();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, stderr);
        return stdout.Trim();
    }

    /// <summary>Public keys looked up as a receiver would: TXT at selector._domainkey.domain, from the loopback DNS server.</summary>
    public sealed class LoopbackDnsKeys(LoopbackWorld world) : DkimPublicKeyLocatorBase
    {
        private readonly LookupClient _dns = new(new LookupClientOptions(new NameServer(world.Dns.Endpoint)) { UseCache = false });

        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            LocatePublicKeyAsync(methods, domain, selector, cancellationToken).GetAwaiter().GetResult();

        public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default)
        {
            var answer = await _dns.QueryAsync($"{selector}._domainkey.{domain}", QueryType.TXT, cancellationToken: cancellationToken);
            var record = answer.Answers.TxtRecords().Single();
            return GetPublicKey(string.Concat(record.Text));
        }
    }
}
