#!/usr/bin/env python3
"""The layering check: src/LAYERS lists every library file top to bottom, and
a file may only reach files listed below it.

  tools/check_layering.py --root DIR --objdir DIR [--objdir DIR ...] [--map FILE] [--nm NM]

Three checks, every finding printed before the exit status:
  map       every src/**/*.c is listed exactly once, nothing else is, and a
            folder's files are listed together (its first file fixes the
            folder's place in the order). One file per line: no two files
            may reference each other.
  symbols   nm of each file's object: a global symbol a file references
            (a call, or the address of a function or variable) must be
            defined in a file listed below it. Calls through a function
            pointer handed down at run time name nothing, so a table of
            upward events filled by the upper file passes.
  includes  a header under src/<folder> may be included only from its own
            folder or a folder above it; public headers (include/pulsarc/)
            from anywhere; the generated pulsarc.pb-c.h counts as a codec
            header. tools/<dir> reach only public headers, their own folder,
            tools/common and tools/testbroker/testbroker.h, plus what a
            "tools/<dir>: ..." line in src/LAYERS grants. Public headers
            include only public headers.

The object of src/<folder>/<file>.c is <objdir>/<folder>/<file>.c.o, as CMake
names it (tools/check-layering.sh passes the build's object directories: the
shipped objects, then with --variant those compiled with PULSARC_TEST_HOOKS,
which the tests link and which may reference more).
Exit status: 0 clean, 1 findings, 2 the check could not run.
"""
import argparse
import collections
import os
import re
import subprocess
import sys

# Not a file in the tree: protoc-c writes it into the build directory for the
# codec, which owns the wire format.
GENERATED = {"pulsarc.pb-c.h": "codec"}
# What every tools/<dir> may include besides its own folder's headers.
TOOLS_SHARED = ("tools/common/", "tools/testbroker/testbroker.h")

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def die(msg):
    print("check-layering: " + msg, file=sys.stderr)
    sys.exit(2)


def read_map(path):
    """Returns (files in order with their LAYERS line, tools grants)."""
    files, grants = [], {}
    try:
        with open(path, encoding="utf-8") as f:
            raw = f.readlines()
    except OSError as e:
        die("cannot read the map %s: %s" % (path, e))
    for n, line in enumerate(raw, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" in line:
            who, _, what = line.partition(":")
            who = who.strip().rstrip("/")
            if not who.startswith("tools/") or who.count("/") != 1:
                die("%s:%d: a rule line reads 'tools/<dir>: <folder>|<folder/header.h> ...'"
                    % (path, n))
            grants[who] = what.split()
            continue
        group = line.split()
        if len(group) != 1 or not line.endswith(".c") or line.startswith("/") or "/" not in line:
            die("%s:%d: expected one src-relative .c path (folder/file.c) per line, got %r"
                % (path, n, line))
        files.append((line, n))
    return files, grants


def check_map(root, map_path, files, findings):
    """The rank of each file (its line) and of each folder (first appearance)."""
    rel_map = os.path.relpath(map_path, root)
    seen, folders, blocks = {}, [], {}
    for name, n in files:
        folder = name.split("/", 1)[0] if "/" in name else ""
        if name in seen:
            findings.append("%s:%d lists src/%s again (first at line %d)"
                            % (rel_map, n, name, seen[name]))
            continue
        seen[name] = n
        if folder not in blocks:
            folders.append(folder)
            blocks[folder] = [n, n]
        elif folders[-1] != folder:
            findings.append("%s:%d: src/%s is apart from the rest of %s/ (lines %d-%d): "
                            "list a folder's files together"
                            % (rel_map, n, name, folder, blocks[folder][0], blocks[folder][1]))
        blocks[folder][1] = n
    on_disk = set()
    for d, _, names in os.walk(os.path.join(root, "src")):
        for f in names:
            if f.endswith(".c"):
                on_disk.add(os.path.relpath(os.path.join(d, f), os.path.join(root, "src")))
    for name, n in files:
        if name not in on_disk:
            findings.append("%s:%d names src/%s, which does not exist: remove or rename the "
                            "line" % (rel_map, n, name))
    for name in sorted(on_disk - set(seen)):
        folder = name.split("/", 1)[0]
        if folder in blocks:
            a, b = blocks[folder]
            lines = ("line %d" % a) if a == b else ("lines %d-%d" % (a, b))
            where = ("add it to the %s/ block (%s), below every file that calls it and "
                     "above every file it calls" % (folder, lines))
        else:
            where = ("add a block for %s/ where the folder sits in the order (see the "
                     "comment at the top)" % folder)
        findings.append("src/%s is not in %s: %s" % (name, rel_map, where))
    order = {name: n for name, n in files}
    rank = {folder: i for i, folder in enumerate(folders)}
    return order, rank


# ---- symbols


def find_objects(files, objdirs, root, partial=False):
    objs, missing = {}, []
    for name, _ in files:
        cands = [os.path.join(d, name + ".o") for d in objdirs]
        cands = [c for c in cands if os.path.isfile(c)]
        src = os.path.join(root, "src", name)
        if not cands:
            if os.path.isfile(src):
                missing.append(name)
            continue
        # A file that gained test hooks moves to another object library and
        # leaves its old object behind: the newest one is the current one.
        obj = max(cands, key=os.path.getmtime)
        if os.path.isfile(src) and os.path.getmtime(obj) < os.path.getmtime(src):
            if partial:
                continue  # a file that lost its hooks leaves this one behind
            die("%s is older than src/%s: build first" % (obj, name))
        objs[name] = obj
    if missing and not partial:
        die("no object for %s under %s: build first (cmake --build build)"
            % (", ".join("src/" + m for m in missing), ", ".join(objdirs)))
    return objs


def run_nm(nm, objs, extra):
    """{object path: [(symbol, type)]} from nm -A -P; extra selects the kind."""
    out = collections.defaultdict(list)
    paths = sorted(set(objs.values()))
    if not paths:
        return out
    try:
        p = subprocess.run([nm, "-A", "-P"] + extra + paths, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, check=False)
    except OSError as e:
        die("cannot run %s: %s" % (nm, e))
    if p.returncode != 0:
        die("%s failed: %s" % (nm, p.stderr.decode(errors="replace").strip()))
    for line in p.stdout.decode(errors="replace").splitlines():
        # "path.o: symbol type [value size]"
        head, sep, rest = line.partition(": ")
        fields = rest.split()
        if not sep or len(fields) < 2:
            continue
        out[head].append((fields[0], fields[1]))
    return out


def check_symbols(objs, order, nm):
    """(number of references between files, the upward ones as sorted lines)."""
    by_obj = {obj: name for name, obj in objs.items()}
    defined = collections.defaultdict(list)
    kinds = {}
    for obj, syms in run_nm(nm, objs, ["-g", "--defined-only"]).items():
        for sym, kind in syms:
            defined[sym].append(by_obj[obj])
            kinds[sym] = kind
    upward = []
    refs = 0
    for obj, syms in run_nm(nm, objs, ["-u"]).items():
        user = by_obj[obj]
        for sym, _ in syms:
            owners = defined.get(sym)
            if not owners:
                continue  # libc, OpenSSL, protobuf-c, the generated code
            if len(owners) > 1:
                die("%s is defined in %s: cannot place it" % (sym, ", ".join(owners)))
            refs += 1
            if order[owners[0]] < order[user]:
                verb = "calls" if kinds[sym] in ("T", "W", "i") else "uses"
                upward.append((order[user], user, verb, sym, owners[0]))
    return refs, sorted(upward)


# ---- includes


def includes_of(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if m:
                    yield n, m.group(1), m.group(2)
    except OSError as e:
        die("cannot read %s: %s" % (path, e))


def resolve(root, path, quote, name, tools_dirs):
    """The included file relative to root, GENERATED:<name>, or None (system)."""
    cands = []
    if quote == '"':
        cands.append(os.path.join(os.path.dirname(path), name))
    cands += [os.path.join(root, "include", name), os.path.join(root, "src", name)]
    if os.path.relpath(path, root).startswith("tools" + os.sep):
        cands += [os.path.join(root, "tools", d, name) for d in tools_dirs]
    for c in cands:
        if os.path.isfile(c):
            return os.path.relpath(os.path.normpath(c), root)
    if os.path.basename(name) in GENERATED:
        return "GENERATED:" + os.path.basename(name)
    return None


def sources(root, top):
    base = os.path.join(root, top)
    for d, subdirs, names in os.walk(base):
        subdirs.sort()
        for f in sorted(names):
            if f.endswith((".c", ".h")):
                yield os.path.join(d, f)


def layer_of(target):
    """('public', None) / ('src', folder) / ('tools', dir) for an included file."""
    if target.startswith("GENERATED:"):
        return "src", GENERATED[target.split(":", 1)[1]]
    parts = target.split(os.sep)
    if parts[0] == "include":
        return "public", None
    if parts[0] in ("src", "tools") and len(parts) >= 3:
        return parts[0], parts[1]
    return "other", None


def tools_may(who, target, grants):
    kind, where = layer_of(target)
    if kind == "public":
        return True
    if kind == "tools":
        return where == who.split("/")[1] or any(target.startswith(s) for s in TOOLS_SHARED)
    if kind == "src":
        inner = target.split(":", 1)[1] if target.startswith("GENERATED:") else target[4:]
        for g in grants.get(who, []):
            g = g.rstrip("/")
            if where == g or inner == g:
                return True
    return False


def check_includes(root, rank, grants, findings):
    tools = os.path.join(root, "tools")
    tools_dirs = []
    if os.path.isdir(tools):
        tools_dirs = sorted(d for d in os.listdir(tools) if os.path.isdir(os.path.join(tools, d)))
    checked = 0
    for top in ("include", "src", "tools"):
        for path in sources(root, top):
            rel = os.path.relpath(path, root)
            parts = rel.split(os.sep)
            checked += 1
            for n, quote, name in includes_of(path):
                target = resolve(root, path, quote, name, tools_dirs)
                if target is None:
                    continue
                shown = shown_name(target)
                kind, where = layer_of(target)
                if top == "include":
                    if kind != "public":
                        findings.append("%s:%d includes %s: a public header includes only "
                                        "public headers" % (rel, n, shown))
                elif top == "src":
                    mine = parts[1] if len(parts) >= 3 else ""
                    if kind == "public":
                        continue
                    if kind != "src":
                        findings.append("%s:%d includes %s: the library includes only its own "
                                        "and public headers" % (rel, n, shown))
                    elif mine not in rank or where not in rank:
                        lost = mine if mine not in rank else where
                        findings.append("%s:%d includes %s: folder %s/ has no place in "
                                        "src/LAYERS" % (rel, n, shown, lost))
                    elif rank[where] < rank[mine]:
                        findings.append("%s:%d includes %s: %s/ is above %s/ in src/LAYERS"
                                        % (rel, n, shown, where, mine))
                else:
                    who = "/".join(parts[:2])
                    if not tools_may(who, target, grants):
                        findings.append("%s:%d includes %s: tools reach only public headers "
                                        "(pulsarc/*.h), their own folder, tools/common and "
                                        "tools/testbroker/testbroker.h (src/LAYERS lists any "
                                        "exception)" % (rel, n, shown))
    return checked


def shown_name(target):
    if target.startswith("GENERATED:"):
        name = target.split(":", 1)[1]
        return "%s (generated, a %s/ header)" % (name, GENERATED[name])
    return target


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="tree with src/LAYERS, src/, include/, tools/")
    ap.add_argument("--objdir", action="append", default=[],
                    help="directory holding <folder>/<file>.c.o (repeatable)")
    ap.add_argument("--variant", action="append", default=[],
                    help="objects of some files compiled with test hooks, checked in place "
                         "of their --objdir ones in a second pass (repeatable)")
    ap.add_argument("--map", help="the map (default: <root>/src/LAYERS)")
    ap.add_argument("--nm", default=os.environ.get("NM", "nm"))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    if not args.objdir:
        die("give at least one --objdir")

    findings = []
    map_path = os.path.abspath(args.map or os.path.join(root, "src", "LAYERS"))
    files, grants = read_map(map_path)
    order, rank = check_map(root, map_path, files, findings)
    objs = find_objects(files, args.objdir, root)
    refs, upward = check_symbols(objs, order, args.nm)
    # Files compiled a second way (with test hooks) may reference more; the
    # tests link them, so they obey the map too.
    lines = [up + ("",) for up in upward]
    variant = {}
    for d in args.variant:
        variant.update(find_objects(files, [d], root, partial=True))
    if variant:
        seen = set(upward)
        lines += [up + (" (with test hooks)",)
                  for up in check_symbols({**objs, **variant}, order, args.nm)[1]
                  if up not in seen]
    pairs = collections.Counter()
    for _, user, verb, sym, owner, note in sorted(lines):
        findings.append("src/%s %s %s defined in src/%s, which is above it in src/LAYERS%s"
                        % (user, verb, sym, owner, note))
        pairs[(user.split("/")[0], owner.split("/")[0])] += 1
    headers = check_includes(root, rank, grants, findings)

    for line in findings:
        print(line)
    if findings:
        if pairs:
            print("check-layering: upward references by folder (user -> owner): "
                  + ", ".join("%s -> %s: %d" % (a, b, c) for (a, b), c in sorted(pairs.items())))
        print("check-layering: %d finding(s); src/LAYERS is the map, CONTRIBUTING.md "
              "(Layering) the rule" % len(findings))
        return 1
    print("check-layering: %d files in %d folders, %d references between files, all "
          "downward; the includes of %d files follow the folder order"
          % (len(order), len(rank), refs, headers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
