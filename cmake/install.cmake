# Installing leakcheck for other projects (`cmake --install build --prefix P`, and the .deb):
#   bin/leakcheck                                  the CLI (target leakcheck_cli)
#   lib/leakcheck/liblcalloc.so                    the native engine's allocator preload
#   lib/leakcheck/liblcwake.so                     the memcheck engine's ticker
#   lib/leakcheck/pyagent/*.py                     the Python agent (sitecustomize.py arms it)
#   lib/libleakcheck.a, include/lc/*.h             the library and its headers
#   share/leakcheck/suppressions/*.supp            valgrind suppressions for Debian daemons
#   share/man/man1/leakcheck.1                     the man page (harness/cli/leakcheck.1)
#   lib/pkgconfig/leakcheck.pc                     pkg-config
#   lib/cmake/leakcheck/                           find_package(leakcheck): leakcheck::leakcheck,
#                                                  leakcheck::leakcheck_cli, leakcheck_add_test()
# GNUInstallDirs names the folders (included at the top); CMakePackageConfigHelpers writes a
# relocatable config and its version check, so one build installs to any prefix.
include(CMakePackageConfigHelpers)

set(LC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/leakcheck)
set(LC_SUPPRESSIONS_DIR ${CMAKE_INSTALL_DATADIR}/leakcheck/suppressions)

install(TARGETS leakcheck leakcheck_cli EXPORT leakcheckTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
# The native engine's allocator preload, where the CLI looks for it (LC_PRELOAD_REL from bin/).
install(TARGETS lcalloc lcwake LIBRARY DESTINATION ${LC_PRELOAD_DIR})
# The Python agent, beside it (LC_PYAGENT_REL from bin/).
install(FILES harness/pyagent/sitecustomize.py harness/pyagent/leakcheck_agent.py DESTINATION ${LC_PRELOAD_DIR}/pyagent)
install(DIRECTORY include/lc DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(DIRECTORY harness/suppressions/ DESTINATION ${LC_SUPPRESSIONS_DIR}
  FILES_MATCHING PATTERN "*.supp")
install(FILES harness/cli/leakcheck.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# The CMake package: the exported targets under the leakcheck:: namespace, the config that
# finds expat and includes leakcheck_add_test(), and its version file. SameMinorVersion:
# before 1.0 a minor release may change options and the library's API.
install(EXPORT leakcheckTargets NAMESPACE leakcheck:: DESTINATION ${LC_CMAKE_DIR})
configure_package_config_file(cmake/leakcheckConfig.cmake.in
  ${CMAKE_BINARY_DIR}/leakcheckConfig.cmake
  INSTALL_DESTINATION ${LC_CMAKE_DIR}
  PATH_VARS LC_SUPPRESSIONS_DIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/leakcheckConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/leakcheckConfig.cmake
  ${CMAKE_BINARY_DIR}/leakcheckConfigVersion.cmake
  cmake/LeakcheckAddTest.cmake
  DESTINATION ${LC_CMAKE_DIR})

# pkg-config: the prefix is found from the .pc file's own place (${pcfiledir}), so the same file
# is right under --prefix P and under the .deb's /usr. Libs names expat: libleakcheck.a needs it.
file(RELATIVE_PATH LC_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" LC_PC_TO_PREFIX "${LC_PC_TO_PREFIX}")
configure_file(cmake/leakcheck.pc.in ${CMAKE_BINARY_DIR}/leakcheck.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/leakcheck.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The .deb (`make package`, or `cpack` in the build dir): the same install rules under /usr.
# Depends: what dpkg-shlibdeps reads off bin/leakcheck (libc6, libexpat1), valgrind (memcheck
# and vgdb: leakcheck runs them), and libexpat1-dev and libdw-dev, because find_package(leakcheck) looks for
# expat on behalf of libleakcheck.a. One package, not a -dev split: the CMake package needs both
# the program and the library.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME leakcheck)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "connleaks maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "catch connection leaks of a TCP server under valgrind memcheck")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "leakcheck runs a TCP server under valgrind memcheck, drives connect/disconnect cycles at it\n\
on 127.0.0.1 and judges leaks at exit and while it runs (memory kept per connection but\n\
freed at shutdown). Exit status 0 clean, 1 leak, 2 could not judge. With the library\n\
libleakcheck.a, a CMake package (find_package(leakcheck), leakcheck_add_test) and pkg-config.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "valgrind, libexpat1-dev, libdw-dev")
include(CPack)
