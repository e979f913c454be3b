# Validate a run's experiment; the host runtime adds the preflight checks of this machine (accelerator
# memory, converters, assets) so a run that cannot start fails here, before anything is frozen.
rule validate_experiment:
    output:
        stamp=f"{WORK}/{{key}}/validated",
    log:
        f"{WORK}/{{key}}/validate_experiment.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        preflight="--preflight" if PLAN.runtime == "host" else "",
        exp=lambda wc: run_of_key(wc).cli_args,
    shell:
        "{params.cli} validate {params.preflight} {params.exp} > {output.stamp:q} 2> {log:q} "
        "|| {{ cat {log:q} >&2; rm -f {output.stamp:q}; exit 2; }}"
