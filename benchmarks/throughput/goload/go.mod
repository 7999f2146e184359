module semsearch/goload

go 1.22
