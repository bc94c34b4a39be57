using TinyLlama.Data.Cli;

return await Cli.RunAsync(args).ConfigureAwait(false);
