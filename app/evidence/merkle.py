"""The Merkle tree of RFC 9162 §2.1, pure: hashes, proofs, and their verification.

* §2.1.1: a leaf hashes as ``SHA-256(0x00 || entry)``, a node as ``SHA-256(0x01 || left ||
  right)``, the empty tree as ``SHA-256()``; a tree of ``n`` leaves splits at ``k``, the largest
  power of two below ``n``.
* §2.1.3 (inclusion) and §2.1.4 (consistency): a proof is first the list of ranges ``[start,
  end)`` the RFC's recursive definitions name, then their hashes: from a *subtree source*
  (``subtree(start, end)``, here or in tests) or from a store of the perfect subtrees' hashes,
  into which every range splits (:func:`perfect`), so a proof costs O(log n) lookups;
  verification follows the RFC's algorithms step by step.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

Subtree = Callable[[int, int], bytes]  # the hash of the leaves [start, end)


class ProofError(ValueError):
    """A proof asked for outside the tree, or one that does not verify (the message says which step)."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY = hashlib.sha256(b"").digest()


def split(n: int) -> int:
    """``k``: the largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, bottom up (the same tree as the recursive definition)."""
    if not leaves:
        return EMPTY
    level = list(leaves)
    while len(level) > 1:  # pair from the left; an odd last node rises as it is
        level = [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def over(leaves: Sequence[bytes]) -> Subtree:
    """A subtree source over leaf hashes held in memory (tests, small trees)."""
    return lambda start, end: root(leaves[start:end])


def perfect(start: int, end: int) -> list[tuple[int, int]]:
    """The range ``[start, end)`` of a tree as the perfect subtrees it is made of, largest first:
    ``(start, level)`` for the ``2**level`` leaves from ``start``. Every range a proof or a root
    asks for splits so (its start is a multiple of its left part's size), and its hash is the
    right fold of those parts' hashes (:func:`fold`)."""
    parts = []
    while end - start > 1 and (end - start) & (end - start - 1):
        k = split(end - start)
        parts.append((start, k.bit_length() - 1))
        start += k
    parts.append((start, (end - start).bit_length() - 1))
    return parts


def node_id(start: int, level: int) -> int:
    """The perfect subtree of ``2**level`` leaves from ``start``, numbered in order (a leaf ``i`` is
    ``2 * i``, the node over leaves 0 and 1 is 1 …): one key for a store of node hashes."""
    return 2 * start + (1 << level) - 1


def push(frontier: list[tuple[int, int, bytes]], index: int, leaf: bytes) -> list[tuple[int, bytes]]:
    """Add leaf ``index`` (its hash) to a tree's right edge, ``frontier``: its perfect subtrees,
    largest first, as ``(start, level, hash)``; two of a size merge. The nodes this completed, as
    ``(node_id, hash)``, the leaf first. ``fold`` of the frontier's hashes is the tree's root."""
    frontier.append((index, 0, leaf))
    made = [(node_id(index, 0), leaf)]
    while len(frontier) > 1 and frontier[-1][1] == frontier[-2][1]:
        right, left = frontier.pop(), frontier.pop()
        frontier.append((left[0], left[1] + 1, node_hash(left[2], right[2])))
        made.append((node_id(left[0], left[1] + 1), frontier[-1][2]))
    return made


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from its :func:`perfect` parts' hashes."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(m, D[n]) of §2.1.3.1 as the ranges ``[start, end)`` whose hashes it lists, lowest first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]  # the RFC lists the lowest sibling first


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) of §2.1.4.1 as ranges: what proves the tree of ``first`` leaves a prefix of ``second``'s."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from {first} to {second} (0 < first <= second)")
    if first == second:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, second, True
    m = first
    while m != end - start:
        k = split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]): the sibling hashes from leaf ``index`` up to the root of ``size``."""
    return [subtree(start, end) for start, end in inclusion_ranges(index, size)]


def consistency_path(first: int, second: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]): the hashes proving the tree of ``first`` leaves a prefix of ``second``'s."""
    return [subtree(start, end) for start, end in consistency_ranges(first, second)]


def verify_inclusion(entry_hash: bytes, index: int, size: int, path: Sequence[bytes], root_hash: bytes) -> None:
    """§2.1.3.2; raises :class:`ProofError` naming the failed step."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, entry_hash
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion path is shorter than the tree is deep")
    if r != root_hash:
        raise ProofError("the inclusion path does not lead to the root hash")


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       path: Sequence[bytes]) -> None:
    """§2.1.4.2; raises :class:`ProofError` naming the failed step."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency from {first} to {second}")
    if first == second:
        if path:
            raise ProofError("a tree is consistent with itself by an empty proof")
        if first_hash != second_hash:
            raise ProofError("one tree size, two root hashes")
        return
    if not path:
        raise ProofError("the consistency path is empty")
    path = list(path)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a node of the second
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency path is shorter than the tree is deep")
    if fr != first_hash:
        raise ProofError("the consistency path does not lead to the first root hash")
    if sr != second_hash:
        raise ProofError("the consistency path does not lead to the second root hash")
