"""The Merkle core against RFC 9162's own definitions and the Certificate Transparency reference
vectors: a second implementation here, written as the RFC writes it (recursive MTH, PATH,
PROOF), must agree with ours on every tree up to 40 leaves, and each proof must verify by the
RFC's algorithm and fail once anything in it changes."""

from __future__ import annotations

import hashlib
import random

import pymerkle
import pytest
from pymerkle import InmemoryTree

from app.evidence import merkle

# The leaves of RFC 6962's reference tests (certificate-transparency), and the root of each prefix.
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             b"\x50\x51\x52\x53\x54\x55\x56\x57", bytes(range(0x60, 0x70))]
CT_ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]


# --- RFC 9162 §2.1, as written -------------------------------------------------------------

def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    return path(m, d[:k]) + [mth(d[k:])] if m < k else path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    return subproof(m, d[:k], b) + [mth(d[k:])] if m <= k else subproof(m - k, d[k:], False) + [mth(d[:k])]


# --------------------------------------------------------------------------------------------

ENTRIES = [f"entry {i}".encode() for i in range(40)]
HASHES = [merkle.leaf_hash(entry) for entry in ENTRIES]


def test_the_reference_vectors_and_the_rfc_s_definition_give_the_same_roots():
    for size, expected in enumerate(CT_ROOTS, 1):
        leaves = [merkle.leaf_hash(leaf) for leaf in CT_LEAVES[:size]]
        assert merkle.root(leaves).hex() == expected == mth(CT_LEAVES[:size]).hex()
    assert merkle.root([]) == mth([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 41))
def test_inclusion_paths_are_the_rfc_s_and_verify(size):
    source, head = merkle.over(HASHES[:size]), mth(ENTRIES[:size])
    assert merkle.root(HASHES[:size]) == head
    for index in range(size):
        proof = merkle.inclusion_path(index, size, source)
        assert proof == path(index, ENTRIES[:size])
        merkle.verify_inclusion(HASHES[index], index, size, proof, head)


@pytest.mark.parametrize("second", range(1, 41))
def test_consistency_paths_are_the_rfc_s_and_verify(second):
    source = merkle.over(HASHES[:second])
    for first in range(1, second + 1):
        proof = merkle.consistency_path(first, second, source)
        assert proof == (subproof(first, ENTRIES[:second], True) if first < second else [])
        merkle.verify_consistency(first, second, mth(ENTRIES[:first]), mth(ENTRIES[:second]), proof)


def _changed(proof: list[bytes]) -> list[list[bytes]]:
    """Every way to break a proof a little: a flipped bit in each hash, one dropped, one added."""
    variants = [proof[:i] + [bytes([proof[i][0] ^ 1]) + proof[i][1:]] + proof[i + 1:] for i in range(len(proof))]
    variants += [proof[:i] + proof[i + 1:] for i in range(len(proof))]
    return variants + [proof + [b"\x00" * 32]]


def test_a_changed_inclusion_proof_or_claim_fails():
    size, source = 13, merkle.over(HASHES[:13])
    head = merkle.root(HASHES[:13])
    for index in range(size):
        proof = merkle.inclusion_path(index, size, source)
        for bad in _changed(proof):
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(HASHES[index], index, size, bad, head)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(HASHES[(index + 1) % size], index, size, proof, head)  # another entry
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(HASHES[index], index, size, proof, merkle.root(HASHES[:size - 1]))  # another root
    with pytest.raises(merkle.ProofError, match="not in a tree of 13"):
        merkle.inclusion_path(13, 13, source)


def test_a_changed_consistency_proof_or_claim_fails():
    second, source = 11, merkle.over(HASHES[:11])
    heads = {n: merkle.root(HASHES[:n]) for n in range(1, second + 1)}
    for first in range(1, second):
        proof = merkle.consistency_path(first, second, source)
        for bad in _changed(proof):
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(first, second, heads[first], heads[second], bad)
        other = merkle.root(HASHES[:first - 1] + [merkle.leaf_hash(b"edited")])  # history rewritten
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(first, second, other, heads[second], proof)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(3, 3, heads[3], heads[4], [])
    with pytest.raises(merkle.ProofError):
        merkle.consistency_path(0, 3, source)


def test_every_tree_of_1_to_300_leaves_agrees_with_pymerkle():
    """A second opinion: pymerkle 7 (RFC 6962 mode, 1-based) builds the same roots and inclusion
    paths for every size, and proves consistency between the roots we compute."""
    rng = random.Random(28)
    entries = [f"leaf {i}".encode() for i in range(300)]
    hashes = [merkle.leaf_hash(entry) for entry in entries]
    theirs = InmemoryTree(algorithm="sha256")
    for size in range(1, 301):
        theirs.append_entry(entries[size - 1])
        ours = merkle.root(hashes[:size])
        assert theirs.get_root(size) == ours
        source = merkle.over(hashes[:size])
        for index in {0, size - 1, rng.randrange(size)}:
            proof = theirs.prove_inclusion(index + 1, size).serialize()
            assert [bytes.fromhex(h) for h in proof["path"][1:]] == merkle.inclusion_path(index, size, source)
        first = rng.randrange(1, size + 1)
        pymerkle.verify_consistency(merkle.root(hashes[:first]), ours, theirs.prove_consistency(first, size))
        merkle.verify_consistency(first, size, merkle.root(hashes[:first]), ours,
                                  merkle.consistency_path(first, size, source))


def test_every_range_a_proof_asks_for_is_a_fold_of_aligned_perfect_subtrees():
    """What lets a store keep only perfect subtrees: each range of each proof of trees up to 64
    leaves splits into aligned ones (a stored node each) whose fold is the range's hash."""
    hashes = [merkle.leaf_hash(f"x{i}".encode()) for i in range(64)]
    for size in range(1, 65):
        asked = [(0, size)] + [r for index in range(size) for r in merkle.inclusion_ranges(index, size)]
        asked += [r for first in range(1, size + 1) for r in merkle.consistency_ranges(first, size)]
        for start, end in set(asked):
            parts = merkle.perfect(start, end)
            assert sum(1 << level for _, level in parts) == end - start
            assert all(begin % (1 << level) == 0 for begin, level in parts)
            assert len({merkle.node_id(begin, level) for begin, level in parts}) == len(parts)
            assert merkle.fold([merkle.root(hashes[b:b + (1 << level)]) for b, level in parts]) == \
                merkle.root(hashes[start:end])
