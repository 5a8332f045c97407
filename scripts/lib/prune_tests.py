#!/usr/bin/env python3
"""Keeps a target directory to one build's test executables.

Every `cargo test` build links one executable per test target (about 150 MB
each, with the AWS SDKs in them) under <target>/debug/deps, named by a hash of
its build settings. A changed dependency, feature or profile gives new names and
leaves the old files behind, so a target directory that persists between runs
(CI keeps one) grows by a whole build's worth each time, until the disk is full
and the linker dies of it.

    prune_tests.py record <target> < cargo-json   # keep what this build made, drop the rest
    prune_tests.py prune  <target>                # drop what the last recorded build did not make

`record` reads `cargo test --no-run --message-format=json` from stdin. `prune`
runs before a build, with the last run's list, so the build itself has room.
Only executables in debug/deps go: libraries, build scripts and fingerprints stay.
"""
import json
import os
import sys

LIST = "saasit-test-executables.txt"


def deps_dir(target):
    return os.path.join(target, "debug", "deps")


def is_test_executable(path):
    name = os.path.basename(path)
    # Test executables are <crate>-<hash>, with no extension; libraries have one.
    return (
        os.path.isfile(path)
        and "." not in name
        and "-" in name
        and os.access(path, os.X_OK)
    )


def identity(path):
    # A binary target's executable is hard-linked from deps/ to debug/: compare files, not names.
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def prune(target, keep):
    keep = {identity(path) for path in keep} - {None}
    deps = deps_dir(target)
    if not os.path.isdir(deps):
        return 0, 0
    removed = freed = 0
    for name in os.listdir(deps):
        path = os.path.join(deps, name)
        if not is_test_executable(path) or identity(path) in keep:
            continue
        size = os.path.getsize(path)
        os.remove(path)
        removed += 1
        freed += size
    return removed, freed


def report(removed, freed):
    if removed:
        print(f"    (removed {removed} stale test executables, {freed / 1e9:.1f} GB)", file=sys.stderr)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "prune"):
        sys.exit(__doc__)
    verb, target = sys.argv[1], sys.argv[2]
    listing = os.path.join(target, LIST)
    if verb == "prune":
        if not os.path.exists(listing):
            return
        with open(listing) as f:
            keep = [line.strip() for line in f if line.strip()]
        report(*prune(target, keep))
        return
    made = set()
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        executable = message.get("executable") if message.get("reason") == "compiler-artifact" else None
        if executable:
            made.add(executable)
    if not made:
        sys.exit("prune_tests.py: cargo reported no test executables; nothing pruned")
    report(*prune(target, made))
    with open(listing, "w") as f:
        f.write("".join(f"{path}\n" for path in sorted(made)))


if __name__ == "__main__":
    main()
