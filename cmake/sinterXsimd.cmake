# Included right after find_package(xsimd), both by sinter's own build and by
# the installed sinterConfig.cmake.
#
# Debian 12's xsimd 8.1 package config puts "xtl" in the INTERFACE_LINK_LIBRARIES
# of the imported `xsimd` target, but neither ships xtl nor looks it up, so
# every executable linking xsimd gets `-lxtl` and fails to link. xtl is only
# needed by xsimd's optional xtl::xcomplex bridge (XSIMD_ENABLE_XTL_COMPLEX),
# which sinter does not use. When no `xtl` target exists, drop the entry.
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_sinter_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_sinter_xsimd_libs AND "xtl" IN_LIST _sinter_xsimd_libs)
    list(REMOVE_ITEM _sinter_xsimd_libs xtl)
    set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_sinter_xsimd_libs}")
  endif()
  unset(_sinter_xsimd_libs)
endif()
