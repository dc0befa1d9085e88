# Install layout (`cmake --install BUILD --prefix P`):
#   P/bin/brokerd, P/bin/brokerctl
#   P/etc/brokerd/brokerd.conf        (/etc/brokerd when P is /usr)
#   P/lib/systemd/system/brokerd.service
#   P/share/man/man8/brokerd.8, P/share/man/man1/brokerctl.1
#   P/share/bash-completion/completions/brokerctl
# The service user and /var/lib/brokerd come from the Debian package's
# postinst (scripts/package) or systemd's StateDirectory=.

install(TARGETS brokerd brokerctl RUNTIME DESTINATION bin)

# The installed configuration is conf/brokerd.conf with the data under
# /var/lib/brokerd instead of ./data.
file(READ ${CMAKE_SOURCE_DIR}/conf/brokerd.conf BK_CONF_TEXT)
string(REPLACE "log.dirs=./data" "log.dirs=/var/lib/brokerd" BK_CONF_TEXT
    "${BK_CONF_TEXT}")
string(REPLACE "data under ./data" "data under /var/lib/brokerd" BK_CONF_TEXT
    "${BK_CONF_TEXT}")
file(WRITE ${CMAKE_BINARY_DIR}/dist/brokerd.conf "${BK_CONF_TEXT}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
    ${CMAKE_SOURCE_DIR}/conf/brokerd.conf)

# The configuration goes under P/etc, or /etc for a /usr prefix (the
# GNUInstallDirs rule); the unit names the paths the prefix gives, so both
# are decided at install time, when the prefix is known.
install(CODE "
    set(bk_prefix \"\${CMAKE_INSTALL_PREFIX}\")
    if(bk_prefix STREQUAL \"/usr\")
        set(bk_etc \"/etc/brokerd\")
    else()
        set(bk_etc \"\${bk_prefix}/etc/brokerd\")
    endif()
    set(BK_UNIT_BINDIR \"\${bk_prefix}/bin\")
    set(BK_UNIT_CONF \"\${bk_etc}/brokerd.conf\")
    configure_file(${CMAKE_SOURCE_DIR}/scripts/dist/brokerd.service.in
        ${CMAKE_BINARY_DIR}/dist/brokerd.service @ONLY)
    file(INSTALL ${CMAKE_BINARY_DIR}/dist/brokerd.conf
        DESTINATION \"\${bk_etc}\")
    file(INSTALL ${CMAKE_BINARY_DIR}/dist/brokerd.service
        DESTINATION \"\${bk_prefix}/lib/systemd/system\")
")

install(FILES ${CMAKE_SOURCE_DIR}/scripts/dist/brokerctl.bash
    DESTINATION share/bash-completion/completions RENAME brokerctl)

# Man pages, generated from the programs' own help and settings table
# (scripts/dist/gen_man.py) every time they are rebuilt.
find_program(BK_PYTHON3_MAN python3)
if(BK_PYTHON3_MAN)
    add_custom_command(
        OUTPUT ${CMAKE_BINARY_DIR}/man/brokerd.8 ${CMAKE_BINARY_DIR}/man/brokerctl.1
        COMMAND ${BK_PYTHON3_MAN} ${CMAKE_SOURCE_DIR}/scripts/dist/gen_man.py
            $<TARGET_FILE:brokerd> $<TARGET_FILE:brokerctl>
            ${CMAKE_BINARY_DIR}/man
        DEPENDS brokerd brokerctl ${CMAKE_SOURCE_DIR}/scripts/dist/gen_man.py
        COMMENT "Generating man pages")
    add_custom_target(man ALL DEPENDS ${CMAKE_BINARY_DIR}/man/brokerd.8
        ${CMAKE_BINARY_DIR}/man/brokerctl.1)
    install(FILES ${CMAKE_BINARY_DIR}/man/brokerd.8 DESTINATION share/man/man8)
    install(FILES ${CMAKE_BINARY_DIR}/man/brokerctl.1 DESTINATION share/man/man1)
else()
    message(WARNING "python3 not found: man pages are not generated")
endif()
