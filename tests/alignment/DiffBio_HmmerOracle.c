/* SPDX-License-Identifier: BSD-3-Clause
 * DiffBio_HmmerOracle.c: the HMMER 3 library as a scoring oracle for tests/alignment/tstProfileHMM.
 *
 * hmmsearch prints Forward-based bit scores to 0.1 bit and has no Viterbi or glocal output. This
 * small program links HMMER's own libhmmer/libeasel (built from Debian's hmmer source package by
 * cmake/setup-deps.sh) and prints, for every sequence of a FASTA file, the unrounded scores of
 * HMMER's reference implementations in a chosen configuration:
 *
 *   diffbio_hmmer_oracle <hmmfile> <fasta> <fs|sw|ls|s> [--post <seqname>]
 *
 *   fs = multihit local (hmmsearch's default, p7_LOCAL)   sw = unihit local (p7_UNILOCAL)
 *   ls = multihit glocal (p7_GLOCAL)                      s  = unihit glocal (p7_UNIGLOCAL)
 *
 * One line per sequence, tab-separated:
 *   name  L  null1  viterbi  gforward  forward
 * all in nats: null1 = p7_bg_NullOne, viterbi = p7_GViterbi (max-plus, exact in float),
 * gforward = p7_GForward (log space with HMMER's table-driven logsum, ~1e-3 nats per cell),
 * forward = p7_ForwardParser (SSE, probability space with sparse rescaling: what hmmsearch uses;
 * local modes only, "nan" in glocal modes). With --post NAME it then prints the posterior match
 * probabilities of that sequence from p7_Backward + p7_Decoding (SSE, local modes only) as lines
 *   P  i  k  posterior            (1 <= i <= L, 1 <= k <= M, values >= 1e-7 only)
 * followed by "S i  sum_k M + sum_k I + N + C + J" for each residue.
 */
#include "p7_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel.h"
#include "esl_alphabet.h"
#include "esl_sq.h"
#include "esl_sqio.h"
#include "hmmer.h"

static int mode_of(const char *s) {
  if (strcmp(s, "fs") == 0) return p7_LOCAL;
  if (strcmp(s, "sw") == 0) return p7_UNILOCAL;
  if (strcmp(s, "ls") == 0) return p7_GLOCAL;
  if (strcmp(s, "s") == 0) return p7_UNIGLOCAL;
  return -1;
}

int main(int argc, char **argv) {
  char errbuf[eslERRBUFSIZE];
  ESL_ALPHABET *abc = NULL;
  P7_HMMFILE *hfp = NULL;
  P7_HMM *hmm = NULL;
  ESL_SQFILE *sqfp = NULL;
  const char *post_name = NULL;
  int mode, local;

  if (argc != 4 && !(argc == 6 && strcmp(argv[4], "--post") == 0)) {
    fprintf(stderr, "usage: %s <hmmfile> <fasta> <fs|sw|ls|s> [--post <seqname>]\n", argv[0]);
    return 2;
  }
  if (argc == 6) post_name = argv[5];
  if ((mode = mode_of(argv[3])) < 0) {
    fprintf(stderr, "unknown mode %s\n", argv[3]);
    return 2;
  }
  local = (mode == p7_LOCAL || mode == p7_UNILOCAL);
  p7_FLogsumInit();
  impl_Init();

  if (p7_hmmfile_OpenE(argv[1], NULL, &hfp, errbuf) != eslOK) {
    fprintf(stderr, "cannot open %s: %s\n", argv[1], errbuf);
    return 1;
  }
  if (p7_hmmfile_Read(hfp, &abc, &hmm) != eslOK) {
    fprintf(stderr, "cannot read a model from %s: %s\n", argv[1], hfp->errbuf);
    return 1;
  }
  P7_BG *bg = p7_bg_Create(abc);
  P7_PROFILE *gm = p7_profile_Create(hmm->M, abc);
  p7_ProfileConfig(hmm, bg, gm, 400, mode);
  P7_OPROFILE *om = p7_oprofile_Create(hmm->M, abc);
  if (local) p7_oprofile_Convert(gm, om);

  if (esl_sqfile_OpenDigital(abc, argv[2], eslSQFILE_FASTA, NULL, &sqfp) != eslOK) {
    fprintf(stderr, "cannot open %s\n", argv[2]);
    return 1;
  }
  ESL_SQ *sq = esl_sq_CreateDigital(abc);
  P7_GMX *gx = p7_gmx_Create(gm->M, 400);
  P7_OMX *ox = p7_omx_Create(gm->M, 0, 400);
  int status;
  while ((status = esl_sqio_Read(sqfp, sq)) == eslOK) {
    float nullsc, vsc, gfsc, fsc = NAN;
    const int L = (int)sq->n;
    p7_gmx_GrowTo(gx, gm->M, L);
    p7_ReconfigLength(gm, L);
    p7_bg_SetLength(bg, L);
    p7_bg_NullOne(bg, sq->dsq, L, &nullsc);
    p7_GViterbi(sq->dsq, L, gm, gx, &vsc);
    p7_GForward(sq->dsq, L, gm, gx, &gfsc);
    if (local) {
      p7_oprofile_ReconfigLength(om, L);
      p7_omx_GrowTo(ox, gm->M, 0, L);
      p7_ForwardParser(sq->dsq, L, om, ox, &fsc);
    }
    printf("%s\t%d\t%.9g\t%.9g\t%.9g\t%.9g\n", sq->name, L, nullsc, vsc, gfsc, fsc);
    if (local && post_name != NULL && strcmp(post_name, sq->name) == 0) {
      P7_OMX *fwd = p7_omx_Create(gm->M, L, L);
      P7_OMX *bck = p7_omx_Create(gm->M, L, L);
      P7_GMX *pp = p7_gmx_Create(gm->M, L);
      p7_Forward(sq->dsq, L, om, fwd, NULL);
      p7_Backward(sq->dsq, L, om, fwd, bck, NULL);
      p7_Decoding(om, fwd, bck, bck);
      p7_omx_FDeconvert(bck, pp);
      for (int i = 1; i <= L; i++) {
        double s = 0;
        for (int k = 1; k <= gm->M; k++) {
          const float m = pp->dp[i][k * p7G_NSCELLS + p7G_M];
          s += m + pp->dp[i][k * p7G_NSCELLS + p7G_I];
          if (m >= 1e-7f) printf("P\t%d\t%d\t%.9g\n", i, k, m);
        }
        s += pp->xmx[i * p7G_NXCELLS + p7G_N] + pp->xmx[i * p7G_NXCELLS + p7G_C] +
             pp->xmx[i * p7G_NXCELLS + p7G_J];
        printf("S\t%d\t%.9g\n", i, s);
      }
      p7_omx_Destroy(fwd);
      p7_omx_Destroy(bck);
      p7_gmx_Destroy(pp);
    }
    esl_sq_Reuse(sq);
  }
  if (status != eslEOF) {
    fprintf(stderr, "parse error in %s: %s\n", argv[2], esl_sqfile_GetErrorBuf(sqfp));
    return 1;
  }
  esl_sq_Destroy(sq);
  esl_sqfile_Close(sqfp);
  p7_gmx_Destroy(gx);
  p7_omx_Destroy(ox);
  p7_oprofile_Destroy(om);
  p7_profile_Destroy(gm);
  p7_bg_Destroy(bg);
  p7_hmm_Destroy(hmm);
  p7_hmmfile_Close(hfp);
  esl_alphabet_Destroy(abc);
  return 0;
}
