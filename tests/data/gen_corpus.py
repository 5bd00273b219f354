#!/usr/bin/env python3
"""Writes the generated part of ccpump's cc:Mail test corpus.

Usage: gen_corpus.py OUTDIR.  Deterministic: the same files every run, so the
tests and the fuzz seeds do not depend on chance.  Produces well-formed
messages in several charsets, with binary attachments, long names, many
parts and nested multiparts, and broken ones: truncations of every
well-formed message at several points, bad boundaries, bad base64, NUL
octets, missing and empty headers.
"""
import base64
import os
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "gen")
os.makedirs(out, exist_ok=True)
rnd = random.Random(3)
files = {}

HDR = ("From: {frm}\r\nTo: {to}\r\nSubject: {subj}\r\n"
       "Date: Mon, 3 Feb 2025 14:05:00 +0000\r\nMIME-Version: 1.0\r\n")


def msg(name, body, frm='"Doe, Jane" <jane@example.org>', to="bob@ccmail.example.com",
        subj="test", ctype="text/plain; charset=us-ascii", extra=""):
    h = HDR.format(frm=frm, to=to, subj=subj) + extra
    if ctype:
        h += "Content-Type: %s\r\n" % ctype
    data = h.encode("ascii") + b"\r\n" + body
    files[name] = data


def qp_body(text, charset):
    raw = text.encode(charset)
    return raw


# Plain text in several charsets (8bit), and RFC 2047 subjects.
texts = {
    "iso-8859-1": "Caf\u00e9 cr\u00e8me, \u00e0 bient\u00f4t. Gr\u00fc\u00dfe\r\n",
    "utf-8": "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144 \u20ac \u00d8re\r\n",
    "windows-1252": "\u201cQuoted\u201d \u2013 dash \u20ac5 \u00e9t\u00e9\r\n",
    "koi8-r": "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440\r\n",
    "iso-8859-15": "\u20ac \u0160 \u017d \u00e4\u00f6\u00fc\r\n",
    "iso-2022-jp": "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\r\n",
}
for i, (cs, t) in enumerate(sorted(texts.items())):
    msg("charset-%02d-%s.eml" % (i, cs), t.encode(cs), ctype="text/plain; charset=%s" % cs,
        extra="Content-Transfer-Encoding: 8bit\r\n",
        subj="=?%s?B?%s?=" % (cs, base64.b64encode(t.strip().encode(cs)).decode()))

# Attachments: binary octets of every value, long names, many parts, nesting.
binary = bytes(range(256)) * 8
b64 = base64.encodebytes(binary).replace(b"\n", b"\r\n")
parts = [b"--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"]
parts.append(b"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
             b"filename=\"a very long attachment name with spaces.data\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n" + b64)
msg("attach-binary.eml", b"".join(parts) + b"--B--\r\n", ctype='multipart/mixed; boundary="B"')

many = [b"--M\r\nContent-Type: text/plain\r\n\r\nmany parts\r\n"]
for i in range(60):
    many.append(b"--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
                b"filename=\"report-%03d.pdf\"\r\n\r\n%%PDF-%d\r\n" % (i, i))
msg("attach-many.eml", b"".join(many) + b"--M--\r\n", ctype='multipart/mixed; boundary="M"')

nested = (b"--O\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n"
          b"--A\r\nContent-Type: text/plain\r\n\r\nplain version\r\n"
          b"--A\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--A--\r\n"
          b"--O\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n"
          b"--R\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
          b"iVBORw0KGgo=\r\n--R--\r\n"
          b"--O\r\nContent-Type: message/rfc822\r\n\r\n"
          b"From: inner@example.org\r\nTo: x@example.org\r\nSubject: inner\r\n\r\ninner body\r\n"
          b"--O--\r\n")
msg("nested.eml", nested, ctype='multipart/mixed; boundary="O"')

msg("html-only.eml", b"<html><head><style>p{}</style><script>x()</script></head><body>"
    b"<h1>Title</h1><p>First &amp; second &lt;para&gt;&#33;</p><ul><li>one</li><li>two</li>"
    b"</ul><!-- hidden --></body></html>\r\n", ctype="text/html; charset=utf-8")

msg("long-body.eml", b"".join(b"line %05d of a long body that will not fit a text item\r\n" % i
                              for i in range(600)))

# Broken messages.
msg("bad-boundary.eml", b"--X\r\nContent-Type: text/plain\r\n\r\nno closing boundary\r\n",
    ctype='multipart/mixed; boundary="Y"')
msg("bad-base64.eml", b"!!!! not base64 @@@@\r\n====\r\n", ctype="application/octet-stream",
    extra="Content-Transfer-Encoding: base64\r\n")
msg("nul-octets.eml", b"text with \x00 NUL \x00 octets\r\n\xff\xfe\r\n")
msg("unknown-charset.eml", b"caf\xe9\r\n", ctype="text/plain; charset=x-no-such-charset")
files["no-from.eml"] = b"To: bob@example.org\r\nSubject: none\r\n\r\nbody\r\n"
files["empty-from.eml"] = b"From: \r\nTo: bob@example.org\r\nSubject: empty\r\n\r\nbody\r\n"
files["no-rcpt.eml"] = b"From: a@example.org\r\nSubject: nobody\r\n\r\nbody\r\n"
files["garbage.eml"] = bytes(rnd.randrange(256) for _ in range(700))
files["empty.eml"] = b""
files["headers-only.eml"] = b"From: a@example.org\r\nTo: b@example.org\r\n"
files["deep-nesting.eml"] = (b"From: a@example.org\r\nTo: b@example.org\r\nContent-Type: "
                             b"multipart/mixed; boundary=\"b0\"\r\n\r\n" +
                             b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
                                      % (i, i + 1) for i in range(100)) + b"--b100\r\n\r\ndeep\r\n")

# Truncations of every well-formed one at a few points.
for name in [n for n in sorted(files) if n.startswith(("charset", "attach", "nested", "html"))]:
    data = files[name]
    for cut in (len(data) // 3, len(data) // 2, len(data) - 7):
        files["trunc-%d-%s" % (cut, name)] = data[:cut]

for name, data in files.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
