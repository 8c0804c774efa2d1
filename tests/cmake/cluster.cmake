# cluster.cmake: tests of the cluster/ and jobs/ scripts.
# failfast_config is fast and runs by default; the Slurm and
# network-namespace tests need root and start daemons, so they carry the
# labels "cluster" and "long" (ctest -L cluster) and skip (77) without root.
# cluster_slurm_jobs brings its cluster up itself (cluster/slurm-up installs
# Slurm and munge with apt when missing), so a fresh machine runs it; the
# netns test skips without its tools. They share system-wide state (the Slurm daemons, the netns
# hosts h1/h2), hence the resource locks.
add_test(NAME failfast_config COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cluster/failfast_config.sh)
set_tests_properties(failfast_config PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 60)

add_test(NAME cluster_slurm_jobs COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cluster/slurm_jobs.sh)
set_tests_properties(cluster_slurm_jobs PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77
  TIMEOUT 1200 LABELS "cluster;long" RESOURCE_LOCK llmpi_slurm)

add_test(NAME cluster_netns_mpi COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cluster/netns_mpi.sh)
set_tests_properties(cluster_netns_mpi PROPERTIES ENVIRONMENT "${LLMPI_TEST_ENV}" SKIP_RETURN_CODE 77
  TIMEOUT 600 LABELS "cluster;long" RESOURCE_LOCK llmpi_netns)
