#!/usr/bin/env python3
"""gen_alternatives.py DIR [N]: writes N messages (400) of the shape most
mailers send with an attachment, multipart/mixed around a
multipart/alternative of text and HTML, plus a 6 KB PDF in base64, into
DIR (which must not exist).  The conversion figures of
docs/performance-history.md run `ccpump convert` over them, with and without
--full-parse."""
import base64
import os
import random
import sys

def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: gen_alternatives.py DIR [N]")
    out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 400
    os.makedirs(out)
    rnd = random.Random(7)
    words = ("meeting release contract backup quarterly status minutes report "
             "customer schedule budget invoice draft agenda").split()
    for i in range(n):
        text = "\r\n".join(" ".join(rnd.choice(words) for _ in range(10)) for _ in range(25))
        html = "<html><body><p>" + text.replace("\r\n", "</p>\r\n<p>") + "</p></body></html>"
        pdf = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(6000)))
        pdf = pdf.decode().replace("\n", "\r\n")
        msg = (f'From: "Lee, Ann" <ann{i}@example.org>\r\n'
               "To: bob@ccmail.example.com, carl@example.net\r\n"
               f"Subject: figures {i}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\n"
               f"Message-ID: <{i}@example.org>\r\nMIME-Version: 1.0\r\n"
               'Content-Type: multipart/mixed; boundary="_004_out"\r\n\r\n'
               "This is a multi-part message in MIME format.\r\n\r\n"
               '--_004_out\r\nContent-Type: multipart/alternative; boundary="_000_in"\r\n\r\n'
               '--_000_in\r\nContent-Type: text/plain; charset="utf-8"\r\n'
               "Content-Transfer-Encoding: 7bit\r\n\r\n" + text + "\r\n\r\n"
               '--_000_in\r\nContent-Type: text/html; charset="utf-8"\r\n'
               "Content-Transfer-Encoding: 7bit\r\n\r\n" + html + "\r\n\r\n"
               '--_000_in--\r\n\r\n--_004_out\r\nContent-Type: application/pdf; name="q3.pdf"\r\n'
               'Content-Disposition: attachment; filename="q3.pdf"; size=6000\r\n'
               "Content-Transfer-Encoding: base64\r\n\r\n" + pdf + "\r\n--_004_out--\r\n")
        with open(os.path.join(out, f"alt{i:04d}.eml"), "w", newline="") as f:
            f.write(msg)

main()
