using System.Net;
using AyTrack.Core.Addresses;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class AddressTests
{
    [Theory]
    [InlineData("Example.TEST", "example.test")]
    [InlineData("example.test.", "example.test")]
    [InlineData(" mail.Example.test ", "mail.example.test")]
    [InlineData("bücher.test", "xn--bcher-kva.test")]
    [InlineData("XN--BCHER-KVA.test", "xn--bcher-kva.test")]
    public void Domains_are_normalised_to_lower_case_A_labels(string input, string expected)
    {
        Assert.Equal(expected, new RecipientDomain(input).Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("localhost")]
    [InlineData("[127.0.0.1]")]
    [InlineData("bad_domain.test")]
    [InlineData("-leading.test")]
    [InlineData("trailing-.test")]
    [InlineData("a..b.test")]
    public void Invalid_domains_are_refused(string input)
    {
        Assert.False(DomainName.TryNormalize(input, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void Domains_longer_than_253_characters_are_refused()
    {
        var label = new string('a', 60);
        Assert.False(DomainName.TryNormalize(string.Join('.', Enumerable.Repeat(label, 5)) + ".test", out _, out var error));
        Assert.Contains("253", error);
    }

    [Theory]
    [InlineData("Alice@Example.TEST", "Alice", "example.test")]
    [InlineData("<bob@example.test>", "bob", "example.test")]
    [InlineData("first.last+tag@bücher.test", "first.last+tag", "xn--bcher-kva.test")]
    [InlineData("\"quoted local\"@example.test", "\"quoted local\"", "example.test")]
    [InlineData("ünïcode@example.test", "ünïcode", "example.test")]
    public void Addresses_keep_the_local_part_and_normalise_the_domain(string input, string local, string domain)
    {
        var address = EmailAddress.Parse(input);

        Assert.Equal(local, address.LocalPart);
        Assert.Equal(domain, address.Domain.Value);
    }

    [Theory]
    [InlineData("no-at-sign")]
    [InlineData("@example.test")]
    [InlineData("user@")]
    [InlineData(".leading@example.test")]
    [InlineData("two..dots@example.test")]
    [InlineData("spa ce@example.test")]
    [InlineData("user@[10.0.0.1]")]
    public void Invalid_addresses_are_refused_with_a_reason(string input)
    {
        Assert.False(EmailAddress.TryParse(input, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void A_local_part_over_64_octets_is_refused()
    {
        Assert.False(EmailAddress.TryParse(new string('a', 65) + "@example.test", out _, out var error));
        Assert.Contains("64", error);
    }

    [Fact]
    public void Only_non_ASCII_local_parts_need_SMTPUTF8()
    {
        Assert.True(EmailAddress.Parse("ünïcode@example.test").IsInternational);
        Assert.False(EmailAddress.Parse("user@bücher.test").IsInternational);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.255.1.2", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("10.0.0.1", false)]
    [InlineData("::2", false)]
    public void Network_lists_match_CIDR_ranges_and_IPv4_mapped_addresses(string address, bool expected)
    {
        var list = NetworkList.Parse(["127.0.0.0/8", "::1/128"], "test");

        Assert.Equal(expected, list.Contains(IPAddress.Parse(address)));
    }

    [Fact]
    public void A_bad_range_names_its_setting()
    {
        var error = Assert.Throws<FormatException>(() => NetworkList.Parse(["127.0.0.0/33"], "AyTrack:Listener:AllowedNetworks"));
        Assert.Contains("AyTrack:Listener:AllowedNetworks", error.Message);
    }
}
