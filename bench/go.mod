module github.com/libgnsq/libgnsq/bench

go 1.22

require (
	github.com/libgnsq/libgnsq v0.0.0
	github.com/nsqio/go-nsq v1.1.0
)

require github.com/golang/snappy v1.0.0 // indirect

replace github.com/libgnsq/libgnsq => ../
