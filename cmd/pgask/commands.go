package main

import "github.com/spf13/cobra"

// commands lists pgask's subcommands; each lives in its own file.
func commands() []*cobra.Command {
	return []*cobra.Command{newServeCmd(), newPullCmd(), newSchemaCmd(), newDemoCmd(), newAskCmd(), newEvalCmd(), newInitCmd(), newExamplesCmd()}
}
