"""Writing one string as a YAML scalar that reads back as exactly that string.

Proton's filters put component outputs into YAML; the documented examples show plain
scalars (``Value: hello``), so simple values stay plain. Anything YAML could read as
something else (a number, a boolean, a date, a comment, a nested mapping, an empty value)
is quoted, so a component output can never change the shape of the template around it.
"""

from __future__ import annotations

import json
import re

import yaml

# Conservative on purpose: CloudFormation's parser is not PyYAML, so only text that every
# YAML 1.1/1.2 reader takes as a string stays unquoted.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./:@=+-]*\Z")
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]*\Z")


def yaml_scalar(text: str) -> str:
    if _is_plain(text):
        return text
    if _PRINTABLE.match(text):
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=True)  # JSON strings are YAML double-quoted scalars


def _is_plain(text: str) -> bool:
    if not _PLAIN.match(text) or text.endswith(":") or text.lower() in _YAML11_WORDS:
        return False
    try:
        return bool(yaml.safe_load(f"k: {text}") == {"k": text})
    except yaml.YAMLError:
        return False
