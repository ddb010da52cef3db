package call

// Cause is a hangup cause of spec §10.2.
type Cause struct {
	Code  int    // HangupCauseCode
	Name  string // HangupCauseName
	Cause string // HangupCause
}

// Hangup sources of spec §10.1.
const (
	SourceCaller     = "Caller"
	SourceCallee     = "Callee"
	SourceVobiz      = "Vobiz"
	SourceCarrier    = "Carrier"
	SourceAPIRequest = "API Request"
	SourceAnswerXML  = "Answer XML"
	SourceError      = "Error"
	SourceUnknown    = "Unknown"
)

// The hangup causes Parley reports.
var (
	CauseNormalHangup       = Cause{4000, "Normal Hangup", "NORMAL_CLEARING"}
	CauseEndOfXML           = Cause{4010, "End Of XML Instructions", "NORMAL_CLEARING"}
	CauseCanceled           = Cause{1000, "Canceled", "ORIGINATOR_CANCEL"}
	CauseNotRegistered      = Cause{2020, "Endpoint Not Registered", "USER_NOT_REGISTERED"}
	CauseNoAnswer           = Cause{3000, "No Answer", "NO_USER_RESPONSE"}
	CauseBusy               = Cause{3010, "Busy Line", "USER_BUSY"}
	CauseRejected           = Cause{3020, "Rejected", "CALL_REJECTED"}
	CauseForbidden          = Cause{3040, "Forbidden", "CALL_REJECTED"}
	CauseUnallocated        = Cause{3050, "Unallocated number", "UNALLOCATED_NUMBER"}
	CauseRequestTimeout     = Cause{3070, "Request timeout", "RECOVERY_ON_TIMER_EXPIRE"}
	CauseCarrierServerError = Cause{3080, "Internal server error from carrier", "NORMAL_TEMPORARY_FAILURE"}
	CauseCongestion         = Cause{3090, "Network congestion from carrier", "NORMAL_CIRCUIT_CONGESTION"}
	CauseNetworkError       = Cause{5000, "Network Error", "NETWORK_OUT_OF_ORDER"}
	CauseInternalError      = Cause{5010, "Internal Error", "NORMAL_TEMPORARY_FAILURE"}
	CauseRoutingError       = Cause{5020, "Routing Error", "NO_ROUTE_DESTINATION"}
	// CauseNodeFailure ends, in the call records and hangup webhooks, the calls of a cluster
	// node that died (docs/cluster.md); source Error. Parley's own code, beside the 50xx
	// platform errors of §10.2.
	CauseNodeFailure        = Cause{5030, "Node Failure", "NORMAL_TEMPORARY_FAILURE"}
	CauseScheduledHangup    = Cause{6000, "Scheduled Hangup", "ALLOTTED_TIMEOUT"}
	CauseRingTimeout        = Cause{6010, "Ring Timeout Reached", "NO_ANSWER"}
	CauseMediaTimeout       = Cause{6020, "Media Timeout", "MEDIA_TIMEOUT"}
	CauseAnswerURLError     = Cause{7011, "Error Reaching Answer URL", "NORMAL_CLEARING"}
	CauseActionURLError     = Cause{7012, "Error Reaching Action URL", "NORMAL_CLEARING"}
	CauseTransferURLError   = Cause{7013, "Error Reaching Transfer URL", "NORMAL_CLEARING"}
	CauseRedirectURLError   = Cause{7014, "Error Reaching Redirect URL", "NORMAL_CLEARING"}
	CauseInvalidAnswerXML   = Cause{8011, "Invalid Answer XML", "NORMAL_CLEARING"}
	CauseInvalidActionXML   = Cause{8012, "Invalid Action XML", "NORMAL_CLEARING"}
	CauseInvalidTransferXML = Cause{8013, "Invalid Transfer XML", "NORMAL_CLEARING"}
	CauseInvalidRedirectXML = Cause{8014, "Invalid Redirect XML", "NORMAL_CLEARING"}
	CauseLostRace           = Cause{9000, "Lost Race", "LOSE_RACE"}
	CauseMachineDetected    = Cause{9100, "Machine Detected", "NORMAL_CLEARING"} // calls-more.md §G
	CauseConfirmKeyFailed   = Cause{9110, "Confirm Key Challenge Failed", "NORMAL_CLEARING"}
	CauseUnknown            = Cause{0, "Unknown", "UNKNOWN"}
)
