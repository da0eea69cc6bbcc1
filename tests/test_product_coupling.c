/* The product coupling coefficients (pair_nnp/src/product_coupling.c, docs/model.md "Product coupling coefficients").
 *
 *   test_product_coupling                 C-only checks (sizes of the doc's table, argument errors, layout)
 *   test_product_coupling dump L J N      print Q(L, J, N) for tests/test_product_coupling.py, which compares it with
 *                                         the independent reference (tests/reference/nnp_ref.py) */
#include "check.h"
#include "nnp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dump(int L, int J, int N) {
  nnp_product_basis pb;
  nnp_error err = {{0}};
  if (nnp_product_basis_build(L, J, N, &pb, &err)) {
    fprintf(stderr, "test_product_coupling: %s\n", err.message);
    return 1;
  }
  printf("basis %d %d %d products %d entries %d\n", L, J, N, pb.n_products, pb.n_entries);
  for (int q = 0; q < pb.n_products; ++q) {
    const nnp_product *p = &pb.products[q];
    printf("product %d n %d order", q, p->n);
    for (int a = 0; a < p->n; ++a) printf(" %d", p->order[a]);
    printf(" inter");
    for (int a = 0; a < p->n - 2; ++a) printf(" %d", p->inter[a]);
    printf("\n");
    for (int e = p->entry_begin; e < p->entry_end; ++e) {
      const nnp_product_entry *en = &pb.entries[e];
      printf("entry %d %d", en->product, en->M);
      for (int a = 0; a < p->n; ++a) printf(" %d", en->alpha[a]);
      printf(" %.17g\n", en->value);
    }
  }
  nnp_product_basis_free(&pb);
  return 0;
}

/* products and entries per correlation order 1..4, docs/model.md "Sizes" */
static const int SIZES[][2 + 8] = {
    {1, 0, 1, 2, 2, 3, 1, 4, 4, 10},        {1, 1, 1, 1, 2, 2, 3, 3, 12, 12},       {2, 0, 1, 3, 5, 9, 1, 9, 25, 86},
    {2, 1, 1, 2, 5, 9, 3, 14, 67, 231},     {2, 2, 1, 3, 6, 13, 5, 29, 104, 493},   {3, 0, 1, 4, 8, 23, 1, 16, 77, 638},
    {3, 1, 1, 3, 12, 31, 3, 35, 376, 3008}, {3, 2, 1, 5, 14, 46, 5, 74, 727, 6655},
};

static void check_sizes(tally *t) {
  for (size_t k = 0; k < sizeof SIZES / sizeof SIZES[0]; ++k) {
    const int *row = SIZES[k];
    nnp_product_basis pb;
    nnp_error err = {{0}};
    nnp_status st = nnp_product_basis_build(row[0], row[1], 4, &pb, &err);
    CHECK(t, st == NNP_OK);
    if (st) continue;
    int ok = 1;
    for (int n = 1; n <= 4; ++n) {
      int products = pb.order_first[n + 1] - pb.order_first[n];
      int entries = 0;
      for (int q = pb.order_first[n]; q < pb.order_first[n + 1]; ++q)
        entries += pb.products[q].entry_end - pb.products[q].entry_begin;
      if (products != row[1 + n] || entries != row[5 + n]) {
        printf("l_max %d J %d order %d: %d products, %d entries; the doc says %d, %d\n", row[0], row[1], n, products,
               entries, row[1 + n], row[5 + n]);
        ok = 0;
      }
    }
    CHECK(t, ok);
    /* layout: entries contiguous in product order, sorted by M then alpha, alpha non-decreasing and within A */
    int layout = pb.n_entries == (pb.n_products ? pb.products[pb.n_products - 1].entry_end : 0);
    for (int q = 0; q < pb.n_products; ++q) {
      const nnp_product *p = &pb.products[q];
      layout &= p->J == row[1] && p->entry_begin < p->entry_end && (q == 0 || p->entry_begin == p[-1].entry_end);
      for (int e = p->entry_begin; e < p->entry_end; ++e) {
        const nnp_product_entry *en = &pb.entries[e];
        layout &= en->product == q && en->M >= 0 && en->M <= 2 * row[1];
        for (int a = 0; a < p->n; ++a)
          layout &= en->alpha[a] >= 0 && en->alpha[a] < NNP_NSH(row[0]) && (a == 0 || en->alpha[a - 1] <= en->alpha[a]);
        if (e > p->entry_begin) {
          const nnp_product_entry *pr = en - 1;
          int cmp = pr->M - en->M;
          for (int a = 0; a < p->n && cmp == 0; ++a) cmp = pr->alpha[a] - en->alpha[a];
          layout &= cmp < 0;
        }
      }
    }
    CHECK(t, layout);
    nnp_product_basis_free(&pb);
  }
}

static void check_identity(tally *t) {
  /* correlation 1: one product per degree, B = A^J */
  nnp_product_basis pb;
  nnp_error err = {{0}};
  CHECK(t, nnp_product_basis_build(3, 2, 1, &pb, &err) == NNP_OK);
  int ok = pb.n_products == 1 && pb.n_entries == 5;
  for (int e = 0; e < pb.n_entries && ok; ++e)
    ok = pb.entries[e].M == e && pb.entries[e].alpha[0] == 4 + e && pb.entries[e].value == 1.0;
  CHECK(t, ok);
  nnp_product_basis_free(&pb);
}

static void check_errors(tally *t) {
  struct {
    int L, J, N;
    const char *word;
  } bad[] = {{-1, 0, 1, "l_max"},        {NNP_MAX_L + 1, 0, 1, "l_max"},
             {2, 3, 1, "output degree"}, {2, -1, 1, "output degree"},
             {2, 0, 0, "correlation"},   {2, 0, NNP_MAX_CORRELATION + 1, "correlation"}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k) {
    nnp_product_basis pb;
    nnp_error err = {{0}};
    nnp_status st = nnp_product_basis_build(bad[k].L, bad[k].J, bad[k].N, &pb, &err);
    CHECK(t, st == NNP_ERR_ARGUMENT && strstr(err.message, bad[k].word) && pb.n_products == 0 && !pb.entries);
  }
  nnp_error err = {{0}};
  CHECK(t, nnp_product_basis_build(2, 0, 2, NULL, &err) == NNP_ERR_ARGUMENT);
  nnp_product_basis_free(NULL);
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "dump")) return dump(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (argc != 1) {
    fprintf(stderr, "usage: test_product_coupling [dump L J N]\n");
    return 2;
  }
  tally t = {0, 0};
  check_sizes(&t);
  check_identity(&t);
  check_errors(&t);
  printf("product_coupling: %d passed, %d failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
