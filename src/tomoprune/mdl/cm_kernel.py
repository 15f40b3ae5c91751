"""The online context-mixing model and its binary arithmetic coder, compiled with numba.

One compiled function, :func:`run`, both encodes and decodes: the model's prediction and
update code is the same lines for both directions, and only the coder step differs (write the
known bit, or read the bit back). Everything is integer arithmetic (no floating point at all),
so the decoder reproduces the encoder's probabilities bit for bit on any machine.

The model codes a byte as 8 binary decisions, most significant bit first. ``c0`` is the byte
so far with a leading 1 (1, 1b7, 1b7b6, ...). For each bit:

1. **Context counters** (inputs ``0 .. N_CONTEXTS``): an order-0 counter indexed by ``c0``,
   and for each hashed context (orders 1, 2, 3, 4, 5, 6 and 8, the current word, the current
   word with the previous one, the line's column with the byte above) an adaptive probability
   in a shared hash table. At each nibble boundary a context's hash picks a bucket of 16
   32-bit slots: slot 0 holds a check value, slots 1..15 the counters of the nibble's partial
   bits. Two neighbouring buckets are probed; a context seen for the first time replaces the
   one whose first counter has seen fewer bits (its checksum then differs from the evicted
   context's, so a collision resets the counters instead of mixing two contexts). A counter
   is a 22-bit probability and a 10-bit count; it moves towards each bit by ``1/(count+1.5)``
   until the count reaches ``limit``, then at that fixed rate (fast at first, stable later).
2. **Match model**: the longest earlier occurrence of the last ``min_match`` bytes (a hash
   table of positions over the whole history, verified byte by byte) predicts the byte that
   followed it. Its input is the learned probability that the predicted bit is right, given
   the match length (a counter indexed by length bucket and predicted bit).
3. **Mixer**: two logistic mixers (one weight set per ``c0``, one per match-length bucket and
   previous byte) each compute ``squash(sum_i w_i stretch(p_i))`` and learn by online
   gradient descent on coding cost (``w_i += lr * err * stretch(p_i)``); their outputs are
   averaged in the stretched domain.
4. **APM / SSE**: two adaptive probability maps refine the mixed probability by interpolating
   between 33 learned values along ``stretch(p)``, one per ``c0``, one per ``c0`` and previous
   byte; the final probability averages them with the mixer's.

Probabilities are 12-bit (1..4095 out of 4096) from the mixer on. ``stretch(p) = ln(p/(1-p))``
and ``squash`` (its inverse) are scaled by 256 and computed by integer interpolation between
33 knots, so both ends agree exactly.

The coder is a 32-bit binary arithmetic coder without carries: the interval ``[x1, x2]`` is
split at ``x1 + (x2 - x1) / 4096 * p``; leading bytes on which both ends agree are shifted
out. Four flushed bytes end the stream.
"""

from __future__ import annotations

import numpy as np

from tomoprune.extras import require

njit = require("numba", "mdl", "The online codec").njit

# squash at stretch = -2048, -1920, ..., 2048 (i.e. 4096 / (1 + e^-x) at x = -8, -7.5, ..., 8)
SQUASH_KNOTS = np.array(
    [1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994,
     3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095],
    dtype=np.int64,
)  # fmt: skip

N_CONTEXTS = 11  # order 0 + 10 hashed contexts
N_INPUTS = N_CONTEXTS + 2  # + match model + bias
MATCH_BUCKETS = 32
MATCH_CAP = 512  # a verified match is counted up to this length (then it only grows)
MIXER_SHIFT = 16  # weights are fixed point with 16 fractional bits
MASK32 = 0xFFFFFFFF

# parameter vector layout (see ``run``)
P_TABLE_BITS = 0
P_MATCH_BITS = 1
P_MIN_MATCH = 2
P_LIMIT = 3
P_MIXER_LR = 4
P_LENGTH = 5


@njit(cache=True)
def squash(d):
    """12-bit probability of a stretched value ``d`` (``256 * ln(p / (1 - p))``)."""
    if d > 2047:
        return 4095
    if d < -2047:
        return 1
    w = d & 127
    i = (d >> 7) + 16
    return (SQUASH_KNOTS[i] * (128 - w) + SQUASH_KNOTS[i + 1] * w + 64) >> 7


@njit(cache=True)
def stretch_table():
    """``stretch[p]`` for ``p`` in 0..4095: the smallest ``d`` with ``squash(d) >= p``."""
    table = np.zeros(4096, dtype=np.int64)
    pi = 0
    for d in range(-2047, 2048):
        v = squash(d)
        for j in range(pi, v + 1):
            table[j] = d
        pi = v + 1
    for j in range(pi, 4096):
        table[j] = 2047
    return table


@njit(cache=True)
def hash2(a, b):
    """A 32-bit hash of two values below 2**32 (multiplications stay below 2**63)."""
    h = ((a & MASK32) * 0x2F0B4AD3 + (b & MASK32) * 0x6B43A9B5 + 0x1E35A7BD) & MASK32
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & MASK32
    h ^= h >> 13
    return h


@njit(cache=True)
def reciprocals(limit):
    """``65536 / (n + 1.5)`` for counts ``n`` up to ``limit``: a counter's adaptation rate."""
    table = np.zeros(limit + 1, dtype=np.int64)
    for n in range(limit + 1):
        table[n] = 131072 // (2 * n + 3)
    return table


@njit(cache=True)
def counter_p(value):
    """The 12-bit probability of a counter (22-bit probability << 10 | count)."""
    return value >> 20


@njit(cache=True)
def counter_update(value, bit, limit, recip):
    """The counter after seeing ``bit``: probability moves by ``(bit - p) / (n + 1.5)``."""
    p = value >> 10
    n = value & 1023
    p += (((bit << 22) - p) * recip[n]) >> 16
    if p < 0:
        p = 0
    elif p > (1 << 22) - 1:
        p = (1 << 22) - 1
    if n < limit:
        n += 1
    return (p << 10) | n


@njit(cache=True)
def mixer_dot(weights, base, inputs, n):
    """``sum_i w_i x_i`` in the stretched domain (weights have ``MIXER_SHIFT`` fraction bits),
    clamped to the range ``squash`` takes."""
    total = 0
    for i in range(n):
        total += inputs[i] * weights[base + i]
    total >>= MIXER_SHIFT
    if total > 2047:
        total = 2047
    elif total < -2047:
        total = -2047
    return total


@njit(cache=True)
def mixer_update(weights, base, inputs, n, err):
    """One gradient step on coding cost: ``w_i += x_i * err / 2**14`` (rounded), where ``err``
    is ``(bit * 4096 - p) * lr``."""
    for i in range(n):
        weights[base + i] += (inputs[i] * err + 8192) >> 14


@njit(cache=True)
def match_bucket(length):
    """The match-length bucket (0 = no match; lengths up to 15 exact, then coarser)."""
    if length < 16:
        return length
    if length < 32:
        return 16 + ((length - 16) >> 2)
    if length < 64:
        return 20 + ((length - 32) >> 3)
    if length < 512:
        return 24 + ((length - 64) >> 6)
    return MATCH_BUCKETS - 1


@njit(cache=True)
def match_find(buf, pos, candidate, cap):
    """How many bytes before ``candidate`` equal those before ``pos`` (at most ``cap``)."""
    length = 0
    while (
        length < cap and length < candidate and buf[candidate - 1 - length] == buf[pos - 1 - length]
    ):
        length += 1
    return length


@njit(cache=True)
def match_advance(data, pos, table, mask, min_match, ptr, length):
    """The match after byte ``data[pos]`` is known: ``(ptr, length)``, where ``data[ptr]`` is
    the predicted next byte and ``length`` how many bytes before ``ptr`` equal the last ones
    (0: no match). A match that predicted ``data[pos]`` grows by one; otherwise the last
    ``min_match`` bytes are hashed, the table's latest position for that hash is verified
    byte by byte, and the table then points the hash at ``pos + 1``."""
    if length > 0 and data[ptr] == data[pos]:
        length += 1
        ptr += 1
    else:
        length = 0
    if pos + 1 >= min_match:
        h = 0
        for j in range(min_match):
            h = hash2(h, data[pos - j])
        h &= mask
        if length == 0:
            candidate = table[h]
            if candidate > 0:
                found = match_find(data, pos + 1, candidate, MATCH_CAP)
                if found >= min_match:
                    length = found
                    ptr = candidate
        table[h] = pos + 1
    return ptr, length


@njit(cache=True)
def apm_predict(table, ctx, pr, stretch):
    """Interpolated refinement of ``pr`` in context ``ctx``; returns (p, index of the nearer
    knot to update)."""
    s = stretch[pr] + 2048  # 1 .. 4095
    lo = s >> 7  # 0 .. 31
    w = s & 127
    base = ctx * 33 + lo
    p = (table[base] * (128 - w) + table[base + 1] * w) >> 11  # 16-bit knots -> 12 bits
    if w < 64:
        return p, base
    return p, base + 1


@njit(cache=True)
def _bucket(table, h, bucket_mask):
    """The slot index of the 16-slot bucket for hash ``h`` (probing two, replacing the one
    whose first counter has seen fewer bits when neither holds ``h``'s check value)."""
    check = (h & 0xFFFF) | 0x10000
    b0 = hash2(h, 0x5BD1) & bucket_mask
    i0 = b0 << 4
    if table[i0] == check:
        return i0
    i1 = (b0 ^ 1) << 4
    if table[i1] == check:
        return i1
    if (table[i0 + 1] & 1023) > (table[i1 + 1] & 1023):
        i0 = i1
    table[i0] = check
    for k in range(1, 16):
        table[i0 + k] = 1 << 31  # probability 1/2, count 0
    return i0


@njit(cache=True)
def run(data, code, params, encode, trace):
    """Encode ``data`` into ``code`` (``encode`` true) or decode ``code`` into ``data``.

    ``params``: table bits, match-table bits, minimum match, counter limit, mixer learning
    rate, byte count. Returns the number of code bytes written (encoding) or read (decoding).
    When ``trace`` is non-empty, the final probability of every bit is stored in it, so tests
    can compare the encoder's and the decoder's step by step.
    """
    n = params[P_LENGTH]
    limit = params[P_LIMIT]
    lr = params[P_MIXER_LR]
    min_match = params[P_MIN_MATCH]
    recip = reciprocals(1023)
    stretch = stretch_table()

    table = np.full(1 << params[P_TABLE_BITS], 1 << 31, dtype=np.uint32)
    bucket_mask = (1 << (params[P_TABLE_BITS] - 4)) - 1
    order0 = np.full(256, 1 << 31, dtype=np.int64)
    match_table = np.zeros(1 << params[P_MATCH_BITS], dtype=np.int64)
    match_mask = (1 << params[P_MATCH_BITS]) - 1
    match_sm = np.full(MATCH_BUCKETS * 2, 1 << 31, dtype=np.int64)

    w_init = (1 << MIXER_SHIFT) // 4
    mix_a = np.full(256 * N_INPUTS, w_init, dtype=np.int64)
    mix_b = np.full(4 * 256 * N_INPUTS, w_init, dtype=np.int64)
    apm1 = np.zeros(256 * 33, dtype=np.int64)
    apm2 = np.zeros(65536 * 33, dtype=np.int64)
    for c in range(256):
        for j in range(33):
            apm1[c * 33 + j] = squash((j - 16) * 128) * 16
    for c in range(65536):
        for j in range(33):
            apm2[c * 33 + j] = squash((j - 16) * 128) * 16

    ctx_hash = np.zeros(N_CONTEXTS, dtype=np.int64)
    slots = np.zeros(N_CONTEXTS, dtype=np.int64)
    idx = np.zeros(N_CONTEXTS, dtype=np.int64)
    inputs = np.zeros(N_INPUTS, dtype=np.int64)

    # coder state
    x1 = 0
    x2 = MASK32
    x = 0
    cpos = 0
    if not encode:
        for _ in range(4):
            x = (x << 8) | (code[cpos] if cpos < code.shape[0] else 0)
            cpos += 1

    h_lo = 0  # the last 4 bytes, newest in the low byte
    h_hi = 0  # the 4 bytes before them
    word = 0
    word_prev = 0
    column = 0
    line_start = 0
    prev_line_start = 0
    match_ptr = 0
    match_len = 0
    tracing = trace.shape[0] > 0
    t = 0

    for pos in range(n):
        # -- byte boundary: the contexts of this byte
        c1 = h_lo & 0xFF
        above = 0
        if line_start > 0 and prev_line_start + column < line_start - 1:
            above = data[prev_line_start + column]  # the byte above, in the previous line
        ctx_hash[1] = hash2(h_lo & 0xFF, 1)
        ctx_hash[2] = hash2(h_lo & 0xFFFF, 2)
        ctx_hash[3] = hash2(h_lo & 0xFFFFFF, 3)
        ctx_hash[4] = hash2(h_lo, 4)
        ctx_hash[5] = hash2(h_lo, hash2(h_hi & 0xFF, 5))
        ctx_hash[6] = hash2(h_lo, hash2(h_hi & 0xFFFF, 6))
        ctx_hash[7] = hash2(h_lo, hash2(h_hi, 8))
        ctx_hash[8] = hash2(word, 9)
        ctx_hash[9] = hash2(word, hash2(word_prev, 10))
        ctx_hash[10] = hash2(above, hash2(column if column < 255 else 255, 11))
        predicted = (data[match_ptr] | 256) if match_len > 0 else 0
        mb = match_bucket(match_len)
        mset = 0 if mb == 0 else (1 if mb < 16 else (2 if mb < 24 else 3))

        c0 = 1
        nib = 1
        for bitpos in range(8):
            if bitpos == 0 or bitpos == 4:
                for k in range(1, N_CONTEXTS):
                    h = ctx_hash[k] if bitpos == 0 else hash2(ctx_hash[k], c0)
                    slots[k] = _bucket(table, h, bucket_mask)
                nib = 1
            # -- predict
            idx[0] = c0
            inputs[0] = stretch[counter_p(order0[c0])]
            for k in range(1, N_CONTEXTS):
                idx[k] = slots[k] + nib
                inputs[k] = stretch[counter_p(table[idx[k]])]
            expected = -1
            if predicted > 0 and (predicted >> (8 - bitpos)) == c0:
                expected = (predicted >> (7 - bitpos)) & 1
                msi = mb * 2 + expected
                inputs[N_CONTEXTS] = stretch[counter_p(match_sm[msi])]
            else:
                predicted = 0
                msi = -1
                inputs[N_CONTEXTS] = 0
            inputs[N_CONTEXTS + 1] = 256
            base_a = c0 * N_INPUTS
            base_b = ((0 if predicted == 0 else mset) * 256 + c1) * N_INPUTS
            sa = mixer_dot(mix_a, base_a, inputs, N_INPUTS)
            sb = mixer_dot(mix_b, base_b, inputs, N_INPUTS)
            pa = squash(sa)
            pb = squash(sb)
            pm = squash((sa + sb) >> 1)
            p1, u1 = apm_predict(apm1, c0, pm, stretch)
            p2, u2 = apm_predict(apm2, c0 | (c1 << 8), pm, stretch)
            p = (2 * pm + p1 + p2 + 2) >> 2
            if p < 1:
                p = 1
            elif p > 4095:
                p = 4095
            if tracing:
                trace[t] = p
            t += 1

            # -- code the bit
            xmid = x1 + ((x2 - x1) >> 12) * p
            # the encoder reads the known bit, the decoder reads it off the code
            bit = ((data[pos] >> (7 - bitpos)) & 1) if encode else (1 if x <= xmid else 0)
            if bit:
                x2 = xmid
            else:
                x1 = xmid + 1
            while ((x1 ^ x2) & 0xFF000000) == 0:
                if encode:
                    if cpos >= code.shape[0]:
                        return -1  # the output buffer is full (cannot happen at 2 bytes/byte)
                    code[cpos] = x2 >> 24
                else:
                    x = ((x << 8) & MASK32) | (code[cpos] if cpos < code.shape[0] else 0)
                cpos += 1
                x1 = (x1 << 8) & MASK32
                x2 = ((x2 << 8) & MASK32) | 255

            # -- update
            order0[c0] = counter_update(order0[c0], bit, limit, recip)
            for k in range(1, N_CONTEXTS):
                table[idx[k]] = counter_update(table[idx[k]], bit, limit, recip)
            if msi >= 0:
                match_sm[msi] = counter_update(match_sm[msi], bit, 1023, recip)
            mixer_update(mix_a, base_a, inputs, N_INPUTS, ((bit << 12) - pa) * lr)
            mixer_update(mix_b, base_b, inputs, N_INPUTS, ((bit << 12) - pb) * lr)
            target = bit << 16
            apm1[u1] += (target - apm1[u1]) >> 6
            apm2[u2] += (target - apm2[u2]) >> 6
            c0 = (c0 << 1) | bit
            nib = (nib << 1) | bit

        # -- the byte is known: advance the histories
        c = c0 & 0xFF
        if not encode:
            data[pos] = c
        h_hi = ((h_hi << 8) | (h_lo >> 24)) & MASK32
        h_lo = ((h_lo << 8) | c) & MASK32
        lower = c + 32 if 65 <= c <= 90 else c
        if 97 <= lower <= 122:
            word = hash2(word, lower)
        elif word != 0:
            word_prev = word
            word = 0
        if c == 10:
            column = 0
            prev_line_start = line_start
            line_start = pos + 1
        else:
            column += 1
        match_ptr, match_len = match_advance(
            data, pos, match_table, match_mask, min_match, match_ptr, match_len
        )

    if encode:
        if cpos + 4 > code.shape[0]:
            return -1
        for _ in range(4):
            code[cpos] = x1 >> 24
            cpos += 1
            x1 = (x1 << 8) & MASK32
    return cpos
