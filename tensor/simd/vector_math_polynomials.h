// Private to tensor/simd/: the polynomial coefficients of the vectorised exp and Phi, shared by the AVX2
// and AVX-512 loops (vector_math_avx2.cpp, vector_math_avx512.cpp) so that both evaluate the very same
// polynomials in the same order and give the same bits. The fits and their errors are in
// docs/derivations/vector_math.md.
#pragma once

namespace qkv::kernels::vmath::poly {

// e^r for |r| <= ln2 / 2, degree 6.
constexpr float kExp[] = {1.0f,          1.0f,           0.499999911f,  0.166664198f,
                          0.0416682251f, 0.00837482233f, 0.00138368271f};
// erf(a) = a P(a^2) for a < 1, degree 5.
constexpr float kErf[] = {1.12837911f,    -0.37612325f,   0.112801798f,
                          -0.0267113093f, 0.00491754897f, -0.000563141308f};
// erfc(a) = exp(-a^2) Q(t), t = 1 / (1 + a / 2), for a >= 1, degree 8.
constexpr float kErfc[] = {-5.51833182e-06f, 0.282232046f,  0.280671328f,  0.254699647f, 0.152341872f,
                           0.117009163f,     0.0105297081f, -0.174956396f, 0.0779006183f};

// The clamp below which e^x is 0 (leaves float's normal range), 1/ln2, ln2 as hi + lo, 1/sqrt2,
// 1/sqrt(2 pi), and the a past which erfc(a) < 1e-44 is 0.
constexpr float kExpLowest = -87.3f;
constexpr float kLog2e = 1.44269504f;
constexpr float kMinusLn2Hi = -0.693147182f;
constexpr float kMinusLn2Lo = 1.90465421e-09f;
constexpr float kInvSqrt2 = 0.707106781f;
constexpr float kInvSqrt2Pi = 0.398942280f;
constexpr float kErfcZeroPast = 10.0f;

}  // namespace qkv::kernels::vmath::poly
