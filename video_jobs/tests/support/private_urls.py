"""URLs into private networks (and other ways in) that webhooks refuse, each with the reason logged.

The owner of a URL refused for where it leads (``REFUSED_ADDRESSES``) is told only "not a public address";
one refused for its form (``MALFORMED``) is told the reason.
"""

# The matrix, and the other ways into a private network.
REFUSED_ADDRESSES = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://10.0.0.1/hook", "private-use"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://100.64.0.1/hook", "shared (carrier-grade NAT)"),
    ("http://localhost:8000/hook", "loopback"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://172.16.0.1/hook", "private-use address (172.16.0.0/12, RFC 1918)"),
    ("http://192.168.1.1/hook", "private-use"),
    ("http://[fc00::1]/hook", "unique-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://[64:ff9b::7f00:1]/hook", "embeds 127.0.0.1"),  # NAT64
    ("http://[64:ff9b::a9fe:a9fe]/hook", "embeds 169.254.169.254"),
    ("http://[2002:7f00:1::]/hook", "embeds 127.0.0.1"),  # 6to4
    ("http://[2002:a00:1::]/hook", "embeds 10.0.0.1"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", "embeds 127.0.0.1"),  # Teredo
    ("http://[2001:db8::1]/hook", "documentation"),
    ("http://nothing-here.invalid/hook", "does not resolve"),
]

MALFORMED = [
    ("file:///etc/passwd", "scheme must be http or https"),
    ("gopher://127.0.0.1:6379/_SET", "scheme must be http or https"),
    ("http://user:pw@93.184.215.14/hook", "credentials"),
    ("https:///hook", "no host"),
    ("not a url", "scheme must be http or https"),
]

REFUSED = REFUSED_ADDRESSES + MALFORMED
