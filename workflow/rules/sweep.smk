# The sweep report: one table of points (overrides, final and lowest loss, tokens/s, verdict), their loss
# curves overlaid, and the best point by the sweep file's metric; shown by snakemake --report.
rule report_sweep:
    input:
        sweep=config["sweep"] or [],
        verdicts=every_run(verdict_file),
    output:
        report=report(
            f"{RUNS}/.sweeps/{{sweep_name}}/report.md",
            caption="../report/sweep.rst",
            category="Sweep",
        ),
        html=report(
            f"{RUNS}/.sweeps/{{sweep_name}}/report.html",
            caption="../report/sweep.rst",
            category="Sweep",
        ),
        plot=report(
            f"{RUNS}/.sweeps/{{sweep_name}}/loss.png",
            caption="../report/sweep.rst",
            category="Sweep",
        ),
    log:
        f"{RUNS}/.sweeps/{{sweep_name}}/report_sweep.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        runs_dir=lambda wc, output: Path(output.report).parents[2],
        folder=lambda wc, output: Path(output.report).parent,
    shell:
        "{params.cli} sweep report {input.sweep:q} --runs-dir {params.runs_dir:q} "
        "--output {params.folder:q} 2>&1 | tee {log:q}"
