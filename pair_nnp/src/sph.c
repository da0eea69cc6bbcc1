/* Real spherical harmonics (component normalisation, no Condon-Shortley phase) and their gradients.
 *
 * Y_lm(u) = N_lm Pi_l^|m|(z) {A_m(x,y) | B_|m|(x,y)} with Pi_l^m = d^m P_l/dz^m (docs/model.md). We evaluate the
 * homogeneous polynomial S_lm(v) = N_lm Pi_l^m(z, rho = |v|^2) A_m(x,y) at the unit vector u together with its
 * Euclidean gradient; since S is homogeneous of degree l, dY/dr = (grad S(u) - l S(u) u) / |r|.
 */
#include "nnp_internal.h"

#include <math.h>
#include <string.h>

/* Pi[l][m] = Pi_l^m at (z, rho = 1) and its partial derivatives in z and rho, via
 * (l - m) Pi_l^m = (2l - 1) z Pi_{l-1}^m - (l + m - 1) rho Pi_{l-2}^m. */
static void legendre_derivatives(int L, double z, double P[][NNP_MAX_L + 1], double Pz[][NNP_MAX_L + 1],
                                 double Pr[][NNP_MAX_L + 1]) {
  double dfact = 1.0; /* (2m - 1)!! */
  for (int m = 0; m <= L; ++m) {
    if (m > 0) dfact *= (double)(2 * m - 1);
    P[m][m] = dfact;
    Pz[m][m] = 0.0;
    Pr[m][m] = 0.0;
    for (int l = m + 1; l <= L; ++l) {
      double p1 = P[l - 1][m], p1z = Pz[l - 1][m], p1r = Pr[l - 1][m];
      double p2 = l - 2 >= m ? P[l - 2][m] : 0.0;
      double p2z = l - 2 >= m ? Pz[l - 2][m] : 0.0;
      double p2r = l - 2 >= m ? Pr[l - 2][m] : 0.0;
      double a = (double)(2 * l - 1), b = (double)(l + m - 1), inv = 1.0 / (double)(l - m);
      P[l][m] = (a * z * p1 - b * p2) * inv;
      Pz[l][m] = (a * (p1 + z * p1z) - b * p2z) * inv;
      Pr[l][m] = (a * z * p1r - b * (p2 + p2r)) * inv;
    }
  }
}

/* l <= 2 in closed form (the same functions: S_1 = sqrt3 (y, z, x); S_2 = sqrt15 (xy, yz, (3z^2 - rho)/(2 sqrt3),
 * xz, (x^2 - y^2)/2)); the general recurrence below costs several times more and these degrees are the common case. */
static void sph_low(int L, const double r[3], double *Y, double *dY) {
  const double s3 = 1.7320508075688772, s5 = 2.2360679774997898, s15 = 3.8729833462074170;
  double len = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  double inv = 1.0 / len;
  double x = r[0] * inv, y = r[1] * inv, z = r[2] * inv;
  /* S values and Euclidean gradients of the homogeneous polynomials at u, then dY = (grad S - l S u) / |r| */
  double S[9], G[9][3];
  int n = 1;
  S[0] = 1.0;
  G[0][0] = G[0][1] = G[0][2] = 0.0;
  if (L >= 1) {
    S[1] = s3 * y, S[2] = s3 * z, S[3] = s3 * x;
    double g1[3][3] = {{0, s3, 0}, {0, 0, s3}, {s3, 0, 0}};
    memcpy(G[1], g1, sizeof g1);
    n = 4;
  }
  if (L >= 2) {
    S[4] = s15 * x * y;
    S[5] = s15 * y * z;
    S[6] = 0.5 * s5 * (3.0 * z * z - 1.0);
    S[7] = s15 * x * z;
    S[8] = 0.5 * s15 * (x * x - y * y);
    double g2[5][3] = {{s15 * y, s15 * x, 0},
                       {0, s15 * z, s15 * y},
                       {-s5 * x, -s5 * y, 2 * s5 * z},
                       {s15 * z, 0, s15 * x},
                       {s15 * x, -s15 * y, 0}};
    memcpy(G[4], g2, sizeof g2);
    n = 9;
  }
  for (int q = 0; q < n; ++q) {
    Y[q] = S[q];
    if (!dY) continue;
    const double l = q == 0 ? 0.0 : q < 4 ? 1.0 : 2.0;
    dY[3 * q + 0] = (G[q][0] - l * S[q] * x) * inv;
    dY[3 * q + 1] = (G[q][1] - l * S[q] * y) * inv;
    dY[3 * q + 2] = (G[q][2] - l * S[q] * z) * inv;
  }
}

void nnp_sph(int L, const double r[3], double *Y, double *dY) {
  if (L <= 2) {
    sph_low(L, r, Y, dY);
    return;
  }
  double len = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  double inv = 1.0 / len;
  double x = r[0] * inv, y = r[1] * inv, z = r[2] * inv;
  double P[NNP_MAX_L + 1][NNP_MAX_L + 1], Pz[NNP_MAX_L + 1][NNP_MAX_L + 1], Pr[NNP_MAX_L + 1][NNP_MAX_L + 1];
  legendre_derivatives(L, z, P, Pz, Pr);
  double A[NNP_MAX_L + 1], B[NNP_MAX_L + 1]; /* Re, Im of (x + i y)^m */
  A[0] = 1.0;
  B[0] = 0.0;
  for (int m = 1; m <= L; ++m) {
    A[m] = x * A[m - 1] - y * B[m - 1];
    B[m] = x * B[m - 1] + y * A[m - 1];
  }
  for (int l = 0; l <= L; ++l) {
    double ratio = 1.0; /* (l - m)! / (l + m)! */
    for (int m = 0; m <= l; ++m) {
      if (m > 0) ratio /= (double)((l + m) * (l - m + 1));
      double norm = sqrt((double)(2 * l + 1) * ratio * (m > 0 ? 2.0 : 1.0));
      double p = P[l][m], pz = Pz[l][m], pr = Pr[l][m];
      for (int sign = (m > 0 ? -1 : 1); sign <= 1; sign += 2) {
        int idx = l * l + l + sign * m;
        /* T = A_m (cos-like, m >= 0) or B_m (sin-like, stored at -m) */
        double T = sign > 0 ? A[m] : B[m];
        Y[idx] = norm * p * T;
        if (!dY) continue;
        double Tx = 0.0, Ty = 0.0;
        if (m > 0) {
          Tx = sign > 0 ? m * A[m - 1] : m * B[m - 1];
          Ty = sign > 0 ? -m * B[m - 1] : m * A[m - 1];
        }
        /* gradient of the homogeneous polynomial at u; rho = |v|^2 contributes 2 u d/drho */
        double gx = norm * (p * Tx + 2.0 * x * pr * T);
        double gy = norm * (p * Ty + 2.0 * y * pr * T);
        double gz = norm * ((pz + 2.0 * z * pr) * T);
        double S = Y[idx];
        dY[3 * idx + 0] = (gx - l * S * x) * inv;
        dY[3 * idx + 1] = (gy - l * S * y) * inv;
        dY[3 * idx + 2] = (gz - l * S * z) * inv;
      }
    }
  }
}
