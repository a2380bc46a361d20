"""The RADIUS shared secret's length and alphabet, for everything that makes one: the stack's first secret and
every rotation (a test ties the template's ExcludeCharacters to this)."""

from __future__ import annotations

LENGTH = 32
# Directory Service takes 8-512 letters, digits, punctuation and space. Left out, because they break something on
# the way: space (trimmed by consoles and forms); " \ ` and ' (JSON and shell quoting, copy-paste into configs);
# $ and ! (shell expansion); % (configparser interpolation in Duo's authproxy.cfg); ; and # (INI comments); = and :
# (INI key separators); , (comma-separated lists).
EXCLUDED_CHARACTERS = " \"\\`'$!%;#=:,"
