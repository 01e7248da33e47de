#!/usr/bin/env python3
"""Generates ERFCX_CHEBYSHEV in src/ber.rs (needs mpmath).

erfc(z) = t * exp(-z^2 + g(u)) for z >= 0, with t = 2/(2+z) and u = 2t - 1 in [-1, 1]
(the form Numerical Recipes 3rd ed. §6.2.2 uses). g is smooth on [-1, 1]; this computes its
Chebyshev coefficients from 64 Chebyshev nodes at 60 digits and prints those above 1e-19.
"""
from mpmath import mp, mpf, erfc, log, cos, pi

mp.dps = 60
N = 64


def g(u):
    t = (u + 1) / 2
    z = 2 * (1 - t) / t
    return log(erfc(z) / t) + z * z


nodes = [cos(pi * (k + mpf(1) / 2) / N) for k in range(N)]
vals = [g(u) for u in nodes]
coef = []
for j in range(N):
    s = sum(vals[k] * cos(pi * j * (k + mpf(1) / 2) / N) for k in range(N))
    coef.append(2 * s / N)
coef[0] /= 2
last = max(j for j, c in enumerate(coef) if abs(c) > 1e-19)
print(f"const ERFCX_CHEBYSHEV: [f64; {last + 1}] = [")
for c in coef[: last + 1]:
    print(f"    {mp.nstr(c, 17, min_fixed=-1, max_fixed=1)},")
print("];")
