package conformance

# DELETE is refused: 405 with Allow under /archive, 403 elsewhere.
# Everything else is allowed and tagged for the upstream.

default decision := {"allow": true, "headers": {"x-policy": "allowed"}}

decision := {
	"allow": false,
	"status": 405,
	"headers": {"allow": "GET, HEAD"},
	"body": "archive is read-only\n",
} if {
	input.request.method == "DELETE"
	startswith(input.request.path, "/archive/")
}

decision := {
	"allow": false,
	"status": 403,
	"headers": {"x-denied-by": "no-deletes"},
	"body": "deletes are not allowed\n",
} if {
	input.request.method == "DELETE"
	not startswith(input.request.path, "/archive/")
}
