#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the C++ example of README.md's "## Example" section (its first ```cpp block) to a
file, so that the build compiles it with -Werror and a test runs it: the README shows code
that works as written.

Usage: readme_example.py README.md OUT.cpp
"""

import re
import sys


def main():
    readme, out = sys.argv[1], sys.argv[2]
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Example\n", 1)
    if len(section) != 2:
        sys.exit(f"{readme}: no '## Example' section")
    block = re.search(r"```cpp\n(.*?)```", section[1], re.S)
    if not block:
        sys.exit(f"{readme}: no ```cpp block in the Example section")
    with open(out, "w", encoding="utf-8") as f:
        f.write("// Generated from README.md's Example section by test/consumers/readme_example.py.\n")
        f.write(block.group(1))


if __name__ == "__main__":
    main()
