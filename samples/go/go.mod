module thinvisor.samples/go

go 1.19
