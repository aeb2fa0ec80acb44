#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of localbag-fuzz into test/fuzz/corpus/ (or the directory given).

Each seed is a short scenario in the byte encoding that fuzz_target.cpp decodes: an operation
is an opcode byte, a thread byte, then its operands. Together the seeds use every operation,
every error path the model knows, slots, inits that fail, probes, thread exits and object
deaths, so the fuzzer starts from inputs that reach deep. Debian python3, no packages needed:

    python3 test/fuzz/make_corpus.py            # rewrites test/fuzz/corpus/
"""

import os
import random
import sys

# Opcodes (the fuzz target takes the first byte modulo 28).
DEFINE, NEW, GETATTR, GET_INT, GET_STR, TRY_GET, HAS, SET, DEL, REF, FIND, CALL = range(12)
D_SET, D_ERASE, D_SETDEFAULT, D_UPDATE, D_CLEAR, D_KEYS, D_POP, D_GET = range(12, 20)
C_SET, C_DEL, C_GET, EXIT, DESTROY, COPY, D_CONTAINS, REGISTRY = range(20, 28)

# Attribute names, by index into kNames.
N, COLOR, P, X, INITED, FAIL, GET_N, SET_P, DICT, EMPTY, LONG, NUL = range(12)
# Class names, by index into kClassNames.
A, B, C, D, LOCAL, NOPE = range(6)


# Values: one byte each (see decode_value).
def none():
    return 0


def small(k):  # k: 0, 1, 2, 3 -> 0, 1, 2, 42
    return 1 + 5 * k


def text(i):  # index into kStrings
    return 2 + 5 * i


def probe(p):
    return 3 + 5 * p


def raw(b):  # the int b itself (b % 5 == 4)
    assert b % 5 == 4
    return b


class Seed:
    def __init__(self):
        self.data = bytearray()

    def op(self, code, thread, *operands):
        self.data += bytes([code, thread, *operands])
        return self

    def define(self, t, name, base=0, attrs=(), init=False, get_n=False, set_p=False, slots=()):
        """base: 0 none, 1 'local', 2 + class index, 6 'Nope'."""
        body = [name, base, len(attrs)]
        for key, value in attrs:
            body += [key, value]
        flags = int(init) | int(get_n) << 1 | int(set_p) << 2 | len(slots) << 3
        return self.op(DEFINE, t, *body, flags, *slots)

    def new(self, t, cell, cls, arg=None, kw=None):
        flags = (arg is not None) | (kw is not None) << 1
        extra = [v for v in (arg, kw) if v is not None]
        return self.op(NEW, t, cell, cls, flags, *extra)

    def call(self, t, cell, name, arg=None):
        return self.op(CALL, t, cell, name, *([0] if arg is None else [1, arg]))

    def update(self, t, cell, items, move=False):
        body = [cell, 0, len(items) - 1]
        for key, value in items:
            body += [key, value]
        return self.op(D_UPDATE, t, *body, int(move))


def seeds():
    out = {}

    s = Seed().define(0, A, attrs=[(N, small(2)), (COLOR, text(0))], init=True, get_n=True)
    s.new(0, 0, A, arg=raw(9))
    for t in range(3):
        s.op(GETATTR, t, 0, N).op(GETATTR, t, 0, INITED).op(GET_INT, t, 0, N)
    s.op(SET, 1, 0, N, raw(14)).call(1, 0, GET_N).call(2, 0, GET_N).op(EXIT, 1)
    s.op(GETATTR, 1, 0, N).op(DESTROY, 2, 0)
    out["walkthrough"] = s

    s = Seed().define(0, A, slots=[N, X]).new(0, 0, A)
    s.op(SET, 0, 0, N, probe(1)).op(GETATTR, 1, 0, N).op(GETATTR, 2, 0, X)
    s.op(DEL, 1, 0, N).op(GETATTR, 0, 0, N).op(DEL, 2, 0, N).op(C_SET, 0, A, N, small(1))
    s.op(D_SET, 1, 0, N, small(2)).op(GETATTR, 1, 0, N).op(FIND, 1, 0, N).op(REF, 1, 0, N)
    out["slots"] = s

    s = Seed().new(0, 0, LOCAL)
    for i, name in enumerate([N, COLOR, P, X, INITED, FAIL, GET_N, SET_P, EMPTY, LONG, NUL]):
        s.op(D_SET, 0, 0, name, raw(4 + 5 * i))
    s.op(D_KEYS, 0, 0, 0).op(D_ERASE, 0, 0, P).op(D_ERASE, 0, 0, P).op(D_SETDEFAULT, 0, 0, P,
                                                                      probe(2))
    s.op(D_SETDEFAULT, 0, 0, N, small(1)).op(D_POP, 0, 0, X).op(D_POP, 0, 0, X)
    s.op(D_GET, 0, 0, N).op(D_GET, 0, 0, X).op(D_CONTAINS, 0, 0, LONG).op(D_KEYS, 0, 0, 0)
    s.update(0, 0, [(X, small(3)), (N, text(2)), (DICT, probe(0))])
    s.update(0, 0, [(EMPTY, none()), (NUL, text(7))], move=True)
    s.op(D_KEYS, 0, 0, 0).op(D_CONTAINS, 0, 0, 0).op(D_CLEAR, 0, 0, 0).op(D_KEYS, 0, 0, 0)
    out["dict_ops"] = s

    s = Seed().define(0, A, attrs=[(N, small(2)), (GET_N, small(0))], slots=[X])
    s.define(1, A).define(1, LOCAL).define(1, B, base=2 + C).define(2, B, base=6)
    s.define(2, B, attrs=[(X, small(1))], slots=[X]).define(2, B, get_n=True, slots=[GET_N])
    s.new(0, 1, NOPE).new(0, 1, C).new(0, 1, A, arg=small(1)).new(0, 1, LOCAL, kw=text(0))
    s.new(0, 0, A).call(0, 0, COLOR).call(0, 0, N).call(0, 0, DICT).call(0, 0, GET_N)
    s.op(DEL, 0, 0, COLOR).op(DEL, 0, 0, N).op(GET_STR, 0, 0, N).op(GET_INT, 0, 0, DICT)
    s.op(SET, 0, 0, DICT, small(1)).op(DEL, 0, 0, DICT).op(REF, 0, 0, N).op(TRY_GET, 0, 0, N)
    s.op(C_DEL, 0, A, COLOR).op(C_GET, 0, A, COLOR, 0).op(C_SET, 0, A, X, small(0))
    s.op(REGISTRY, 0, NOPE, 0).op(REGISTRY, 0, C, 0)
    out["errors"] = s

    s = Seed().define(0, A, attrs=[(COLOR, text(0)), (N, small(2))], get_n=True)
    s.define(0, B, base=2 + A, attrs=[(N, small(3))]).new(0, 0, A).new(0, 1, B)
    s.op(GETATTR, 1, 0, COLOR).op(GETATTR, 1, 1, COLOR).op(C_SET, 2, A, COLOR, text(5))
    s.op(GETATTR, 1, 0, COLOR).op(GETATTR, 2, 1, COLOR).call(1, 1, GET_N).op(C_SET, 0, B, N,
                                                                             raw(19))
    s.call(2, 1, GET_N).op(C_DEL, 0, B, N).call(2, 1, GET_N).op(C_GET, 1, B, COLOR, 0)
    s.op(C_GET, 1, B, N, 1).op(C_GET, 1, A, N, 2).op(SET, 1, 1, COLOR, text(3))
    s.op(GETATTR, 1, 1, COLOR).op(GETATTR, 0, 1, COLOR).op(HAS, 0, 1, COLOR)
    out["class_defaults"] = s

    s = Seed().define(0, A, attrs=[(FAIL, small(1))], init=True).new(0, 0, A)
    s.op(C_SET, 0, A, FAIL, small(0)).new(0, 0, A, arg=probe(3)).op(GETATTR, 1, 0, INITED)
    s.op(C_SET, 0, A, FAIL, small(1)).op(GETATTR, 2, 0, INITED).op(D_KEYS, 2, 0, 0)
    s.op(C_SET, 0, A, FAIL, raw(24)).op(GETATTR, 2, 0, INITED).op(EXIT, 2)
    s.op(SET, 1, 0, FAIL, small(1)).op(GETATTR, 1, 0, FAIL)
    out["init_fails"] = s

    s = Seed().define(0, A, init=True, set_p=True, slots=[COLOR])
    s.new(0, 0, A, arg=probe(0), kw=probe(1)).new(1, 1, A, kw=text(1))
    for t in range(3):
        s.op(SET, t, 0, X, probe(t)).call(t, 0, SET_P, probe(3)).op(SET, t, 1, P, probe(2))
    s.op(GETATTR, 2, 0, COLOR).op(SET, 1, 0, COLOR, probe(1)).op(COPY, 0, 0, 2)
    s.op(DESTROY, 1, 0).op(GETATTR, 2, 2, X).op(EXIT, 2).op(DESTROY, 0, 2).op(EXIT, 1)
    s.op(DESTROY, 2, 1)
    out["probes_and_lifetimes"] = s

    s = Seed().new(0, 0, LOCAL)
    for name in (EMPTY, LONG, NUL):
        s.op(SET, 0, 0, name, text(6)).op(GETATTR, 0, 0, name).op(HAS, 1, 0, name)
        s.op(DEL, 1, 0, name).op(DEL, 0, 0, name).op(DEL, 0, 0, name)
    out["special_names"] = s

    s = Seed().define(0, D).define(1, B, base=2 + D).define(2, A).define(0, C, base=1)
    s.op(REGISTRY, 0, 0, 1).op(REGISTRY, 1, B, 0).op(REGISTRY, 2, LOCAL, 0)
    s.op(C_GET, 0, A, N, 2)
    out["registry"] = s

    s = Seed().new(0, 0, LOCAL).op(SET, 0, 0, DICT, small(0)).op(D_SET, 0, 0, DICT, small(1))
    s.op(GETATTR, 0, 0, DICT).op(HAS, 0, 0, DICT).op(FIND, 0, 0, DICT).op(REF, 0, 0, DICT)
    s.call(0, 0, DICT).op(GETATTR, 1, 0, DICT)
    out["dunder_dict"] = s

    # Each operation alone after a minimal setup, so that every opcode has a seed of its own.
    for code in range(2, 28):
        s = Seed().define(0, A, attrs=[(N, small(2))], init=True, get_n=True, slots=[X])
        s.new(0, 0, A, arg=probe(1)).new(1, 1, LOCAL)
        body = {C_SET: [A, N, text(4)], C_DEL: [A, N], C_GET: [A, N, 2], EXIT: [],
                REGISTRY: [A, 1], COPY: [0, 3], D_UPDATE: [0, N, 1, X, small(1), N, probe(2), 1],
                SET: [0, N, probe(0)], D_SET: [0, LONG, text(5)], D_SETDEFAULT: [0, X, none()],
                CALL: [0, GET_N, 0], DESTROY: [0]}.get(code, [0, N])
        s.op(code, 1, *body).op(code, 2, *body).op(GETATTR, 2, 0, N)
        out["op_%02d" % code] = s

    rng = random.Random(20240917)  # a few random inputs too: the decoder accepts any bytes
    for i in range(4):
        out["random_%d" % i] = bytes(rng.randrange(256) for _ in range(rng.randrange(40, 400)))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(target):
        if name.startswith("seed_"):
            os.remove(os.path.join(target, name))
    all_seeds = seeds()
    for name, seed in sorted(all_seeds.items()):
        data = seed if isinstance(seed, bytes) else bytes(seed.data)
        with open(os.path.join(target, "seed_" + name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(all_seeds), target))


if __name__ == "__main__":
    main()
