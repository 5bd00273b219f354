# The cc:Mail layer (docs/ccmail-format.md): the .ccm writer and reader, the
# code page conversions, RFC 5322 -> cc:Mail conversion and the post office.
list(APPEND CCP_CCMAIL_SOURCES
  ccmail/ccm.c
  ccmail/codepage.c
  ccmail/convert.c
  ccmail/headers.c
  ccmail/po.c
)
list(APPEND CCP_CLI_SOURCES
  cli/cmd_convert.c
  cli/cmd_po.c
  cli/opts_format.c
)
