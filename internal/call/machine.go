package call

import "sync/atomic"

// machineResult holds the answer of answering-machine detection (calls-more.md §D): from the
// decision on, every request about the call carries Machine.
type machineResult struct{ v atomic.Int32 } // 0 undecided, 1 human, 2 machine

// SetMachine records who answered the call, as answering-machine detection decided.
func (c *Call) SetMachine(machine bool) {
	if machine {
		c.machine.v.Store(2)
	} else {
		c.machine.v.Store(1)
	}
}

// Machine returns the detection's answer; decided is false while none was recorded (no
// detection, or not decided yet).
func (c *Call) Machine() (machine, decided bool) {
	switch c.machine.v.Load() {
	case 1:
		return false, true
	case 2:
		return true, true
	}
	return false, false
}
