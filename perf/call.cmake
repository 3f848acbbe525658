# SPDX-License-Identifier: BSD-3-Clause
# End-to-end variant calling: `diffbio call` vs `bcftools mpileup | bcftools call -mv` on the same
# BAM and region in the same run (perf/diffbio_perf_call.sh), and the accuracy table of issue 4
# (perf/call_benchmark.sh: F1 at 30/10/4x vs bcftools, untrained / frozen / joint). Both are run
# targets, not built by `perf` (they take a minute and need samtools, bwa, bcftools):
#   cmake --build <dir> --target diffbio_perf_call      # timing
#   cmake --build <dir> --target diffbio_call_benchmark # F1 table -> <dir>/perf/call-benchmark/table.md
if(TARGET diffbio_app)
  add_custom_target(diffbio_perf_call
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/diffbio_perf_call.sh $<TARGET_FILE:diffbio_app>
            ${CMAKE_CURRENT_BINARY_DIR}/call-perf 30 5
    DEPENDS diffbio_app USES_TERMINAL VERBATIM)
  add_custom_target(diffbio_call_benchmark
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/call_benchmark.sh $<TARGET_FILE:diffbio_app>
            ${CMAKE_CURRENT_BINARY_DIR}/call-benchmark
    DEPENDS diffbio_app USES_TERMINAL VERBATIM)
endif()
