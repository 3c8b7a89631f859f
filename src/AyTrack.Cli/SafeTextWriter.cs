using System.Text;

namespace AyTrack.Cli;

/// <summary>
/// What the CLI prints comes partly from the node (labels, errors, host names), which may come from anyone who could
/// change them: control characters are shown as '?' so that nothing received can move the cursor, recolour or rewrite
/// the operator's terminal. Line breaks and tabs pass.
/// </summary>
public sealed class SafeTextWriter(TextWriter inner) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value) => inner.Write(Safe(value));

    public override void Write(string? value)
    {
        if (value is null)
        {
            return;
        }

        inner.Write(string.Create(value.Length, value, (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
            {
                span[i] = Safe(text[i]);
            }
        }));
    }

    public override void Flush() => inner.Flush();

    public override string ToString() => inner.ToString() ?? string.Empty;

    private static char Safe(char c) => c is '\n' or '\r' or '\t' || !(char.IsControl(c) || c is '\u2028' or '\u2029' or '\u202e') ? c : '?';
}
