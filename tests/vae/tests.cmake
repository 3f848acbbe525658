# SPDX-License-Identifier: BSD-3-Clause
# VAENormalizer (operators/normalization, scVI-style VAE): gradient kit, ADOL-C oracle on the
# serial reference (tests/reference/DiffBio_RefVAE.hpp), backend equality, RNG and a short
# training run (every backend).
diffbio_add_backend_tests(NAME diffbio_vae_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstVAENormalizer.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")

# The classic peer of the NB likelihood: SciPy's nbinom (Debian python3-scipy), run from the test.
if(NOT DIFFBIO_VAE_PYTHON)
  find_program(_diffbio_vae_path_python3 NAMES python3)
  foreach(_py /usr/bin/python3 ${_diffbio_vae_path_python3})
    if(EXISTS ${_py})
      execute_process(COMMAND ${_py} -c "import scipy.stats, numpy"
                      RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
      if(_rc EQUAL 0)
        set(DIFFBIO_VAE_PYTHON ${_py} CACHE FILEPATH "Python with SciPy for the VAE tests")
        break()
      endif()
    endif()
  endforeach()
endif()
set(_vae_python python3)
if(DIFFBIO_VAE_PYTHON)
  set(_vae_python ${DIFFBIO_VAE_PYTHON})
endif()
foreach(_b IN LISTS DIFFBIO_TEST_BACKENDS)
  string(TOLOWER ${_b} _bl)
  target_compile_definitions(diffbio_vae_tests_${_bl} PRIVATE
    DIFFBIO_VAE_PYTHON="${_vae_python}" DIFFBIO_VAE_SCRIPTS="${CMAKE_CURRENT_LIST_DIR}")
endforeach()
unset(_vae_python)
