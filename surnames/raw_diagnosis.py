"""Why a raw file's checksum differs from the manifest's, when the cause is recognisable.

A file copied through another tool often differs from the pinned one in a way that can be
undone: another encoding, a byte-order mark, Windows line endings, a missing final newline,
blank lines at the end. `undone` tries each undoing (and their combinations) and names the
ones that give back the pinned bytes, with the fix; otherwise it compares the file's line
count with the pinned one (data/names.lines, as `wc -l` counts them).
"""
import codecs
import hashlib
from itertools import combinations

ENCODINGS = (("cp1252", "WINDOWS-1252"), ("latin-1", "ISO-8859-1"))  # (Python's, iconv's), tried in order


def _from_encoding(data: bytes) -> tuple[str, bytes] | None:
    """(iconv's name of the encoding, the text in UTF-8) for a file that is not UTF-8."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16", data.decode("utf-16").encode("utf-8")
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    for python_name, iconv_name in ENCODINGS:
        try:
            return iconv_name, data.decode(python_name).encode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def line_count(data: bytes) -> int:
    """Lines as `wc -l` counts them in the pinned form: LF endings, one after the last line."""
    text = data.replace(b"\r\n", b"\n")
    return text.count(b"\n") + (0 if not text or text.endswith(b"\n") else 1)


# (cause, the fix, does it apply, undo it); applied in this order
UNDOINGS = (
    ("starts with a UTF-8 byte-order mark", "remove the first 3 bytes (sed -i '1s/^\\xEF\\xBB\\xBF//' FILE)",
     lambda d: d.startswith(codecs.BOM_UTF8), lambda d: d[len(codecs.BOM_UTF8):]),
    ("has Windows line endings (CRLF)", "convert them (dos2unix FILE, or sed -i 's/\\r$//' FILE)",
     lambda d: b"\r\n" in d, lambda d: d.replace(b"\r\n", b"\n")),
    ("lacks its final newline", "add it (echo >> FILE)",
     lambda d: bool(d) and not d.endswith(b"\n"), lambda d: d + b"\n"),
    ("has blank lines at its end", "remove them",
     lambda d: d.endswith(b"\n\n"), lambda d: d.rstrip(b"\n") + b"\n"),
)


def undone(data: bytes, expected: str) -> str | None:
    """'it <cause>; fix: <fix>' when undoing recognisable changes gives the pinned bytes, else
    None. FILE in the fix stands for the file's path."""
    causes, fixes = [], []
    converted = _from_encoding(data)
    if converted:
        encoding, data = converted
        causes.append(f"is encoded as {encoding}, not UTF-8")
        fixes.append(f"convert it (iconv -f {encoding} -t UTF-8 FILE)")
    applicable = [u for u in UNDOINGS if u[2](data)]
    for size in range(len(applicable) + 1):
        for chosen in combinations(applicable, size):
            candidate = data
            for *_, undo in chosen:
                candidate = undo(candidate)
            if (causes or chosen) and hashlib.sha256(candidate).hexdigest() == expected:
                parts = causes + [cause for cause, *_ in chosen]
                return f"it {' and '.join(parts)}; fix: {', then '.join(fixes + [fix for _, fix, *_ in chosen])}"
    return None


def line_difference(data: bytes, expected_lines: int | None) -> str | None:
    """'it has N more/fewer lines than the pinned file (a vs b); fix: ...', or None."""
    if expected_lines is None or line_count(data) == expected_lines:
        return None
    lines = line_count(data)
    more = lines - expected_lines
    return (f"it has {abs(more)} {'more' if more > 0 else 'fewer'} line{'s' if abs(more) != 1 else ''} "
            f"than the pinned file ({lines} vs {expected_lines}); fix: copy the original file again")
