# A text file as a C string, at build time: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake.
# Comments (/* */) go, lines are joined without a separator (a rule may go on over two lines),
# backslashes and quotes are escaped. For --html's style sheet (reports/html.css).
file(READ "${IN}" text)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" text "${text}")
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "" text "${text}")
file(WRITE "${OUT}.tmp" "/* Generated from ${IN} by embed.cmake: edit that file. */\nconst char ${NAME}[] = \"${text}\";\n")
file(RENAME "${OUT}.tmp" "${OUT}")
