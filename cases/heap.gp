# cases/heap.gp: heap in use against connections served, every case variant, from cases/heap.dat
# (written by cases/transcripts from leakcheck --json). `make plots` runs it; gnuplot-nox.
# Usage (what cases/transcripts runs): gnuplot -e "out='heap.svg'; f='heap.dat'" cases/heap.gp -e "plot f ..."
set terminal svg size 820,480 dynamic font "sans,11" background rgb "white"
set output out
set title "Heap in use while serving (settled snapshots), then at exit"
set xlabel "connections served"
set ylabel "heap in use (KiB)"
set key outside right top noautotitle
set grid
set yrange [0:*]
# The plot command comes after this file, from cases/transcripts (one line per variant of
# cases/heap.dat: pattern by colour, leaky solid, fixed dashed).
