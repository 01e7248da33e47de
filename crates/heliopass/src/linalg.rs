//! Small dense linear algebra for the crosstalk matrix (n ≤ 32): Gauss–Jordan inversion with
//! partial pivoting.

use crate::error::{HelioError, Result};

/// A square matrix, row-major.
pub type Matrix = Vec<Vec<f64>>;

/// The identity of size `n`.
#[must_use]
pub fn identity(n: usize) -> Matrix {
    (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect()
}

/// The symmetric band matrix of size `n` with `bands[d]` at distance `|i − j| = d` from the
/// diagonal and 0 beyond: the shape of heater crosstalk along a ring bank.
#[must_use]
pub fn banded(n: usize, bands: &[f64]) -> Matrix {
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| bands.get(i.abs_diff(j)).copied().unwrap_or(0.0))
                .collect()
        })
        .collect()
}

/// `a⁻¹`.
///
/// # Errors
/// [`HelioError::Singular`] when a pivot is below 1e-12.
pub fn invert(a: &Matrix) -> Result<Matrix> {
    let n = a.len();
    let mut m = a.clone();
    let mut inv = identity(n);
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))
            .unwrap_or(col);
        if m[pivot][col].abs() < 1e-12 {
            return Err(HelioError::Singular { column: col });
        }
        m.swap(col, pivot);
        inv.swap(col, pivot);
        let d = m[col][col];
        for j in 0..n {
            m[col][j] /= d;
            inv[col][j] /= d;
        }
        for r in 0..n {
            if r != col {
                let f = m[r][col];
                if f != 0.0 {
                    for j in 0..n {
                        m[r][j] -= f * m[col][j];
                        inv[r][j] -= f * inv[col][j];
                    }
                }
            }
        }
    }
    Ok(inv)
}

/// `a·x`.
#[must_use]
pub fn mul_vec(a: &Matrix, x: &[f64]) -> Vec<f64> {
    a.iter()
        .map(|row| row.iter().zip(x).map(|(p, q)| p * q).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_a_banded_crosstalk_matrix() {
        let n: usize = 6;
        let k = banded(n, &[1.0, 0.1, 0.02]);
        let inv = invert(&k).unwrap();
        for (i, row) in k.iter().enumerate() {
            let col: Vec<f64> = (0..n).map(|r| inv[r][i]).collect();
            let _ = row;
            let e = mul_vec(&k, &col);
            for (r, v) in e.iter().enumerate() {
                assert!((v - f64::from(u8::from(r == i))).abs() < 1e-12);
            }
        }
        assert!(matches!(
            invert(&vec![vec![1.0, 2.0], vec![2.0, 4.0]]),
            Err(HelioError::Singular { column: 1 })
        ));
    }
}
