package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pgask/pgask/translate/models"
)

// newPullCmd is `pgask pull NAME|URL`: download a model into the cache (resuming a partial
// download, verifying its checksum when known) and print its path.
func newPullCmd() *cobra.Command {
	var cacheDir string
	var list bool
	cmd := &cobra.Command{
		Use:   "pull NAME|URL",
		Short: "Download a model into the model cache",
		Long: `pull downloads a GGUF model into the cache directory and prints its path. NAME is one of the
known models (pgask pull --list); a URL is fetched as it is. An interrupted download resumes
where it stopped. The cache defaults to $XDG_CACHE_HOME/pgask/models (~/.cache/pgask/models).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tFILE\tABOUT")
				for _, k := range models.KnownModels() {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.File, k.About)
				}
				return tw.Flush()
			}
			logger, err := newLogger(cmd.ErrOrStderr(), "info", "text")
			if err != nil {
				return err
			}
			if cacheDir == "" {
				cacheDir = os.Getenv("PGASK_MODEL_CACHE_DIR") // the same directory serve uses
			}
			if cacheDir == "" {
				if cacheDir, err = models.DefaultDir(); err != nil {
					return err
				}
			}
			st := &models.Store{Dir: cacheDir, Logger: logger, Progress: models.TerminalProgress(os.Stderr)}
			path, err := st.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	}
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "model cache directory (default $PGASK_MODEL_CACHE_DIR, else $XDG_CACHE_HOME/pgask/models; serve's model.cache-dir)")
	cmd.Flags().BoolVar(&list, "list", false, "list the known model names")
	return cmd
}
