using System.ComponentModel;
using System.Globalization;

namespace AyTrack.Core.Settings;

/// <summary>
/// A secret (an SMTP password): it never shows itself in <see cref="ToString"/>, so it cannot end up in a log line,
/// an exception message or a debugger's summary by accident. Only <see cref="Reveal"/> gives the value.
/// </summary>
[TypeConverter(typeof(SecretConverter))]
public sealed class Secret : IEquatable<Secret>
{
    private readonly string _value;

    public Secret(string value) => _value = value;

    public static Secret Empty { get; } = new(string.Empty);

    public bool IsSet => _value.Length > 0;

    public string Reveal() => _value;

    public override string ToString() => IsSet ? "***" : string.Empty;

    public bool Equals(Secret? other) => other is not null && other._value == _value;

    public override bool Equals(object? obj) => obj is Secret other && Equals(other);

    public override int GetHashCode() => _value.GetHashCode(StringComparison.Ordinal);

    /// <summary>Lets configuration (AyTrack:Settings:Relay:Password) bind a string to a secret.</summary>
    public sealed class SecretConverter : TypeConverter
    {
        public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string);

        public override object ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) => new Secret((string)value);
    }
}
