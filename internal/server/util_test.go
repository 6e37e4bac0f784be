package server_test

import (
	"fmt"
	"time"
)

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func timeSecond(i int) time.Duration { return time.Duration(i) * time.Second }
