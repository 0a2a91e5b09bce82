package sysutil

// PollWait is the portable FutexWait, which only non-linux builds use, so
// tests reach it on linux too.
var PollWait = pollWait
