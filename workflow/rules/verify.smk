# Verify the trained bundle: verdict.json, a Markdown and an HTML report, the loss plot (--report shows the
# HTML page, which names the verdict and inlines the plot, plus the plot and the Markdown report).
rule verify_run:
    input:
        done=f"{BUNDLE}/{layout.DONE_PATH}",
    output:
        verdict=f"{BUNDLE}/{layout.VERDICT_PATH}",
        report=report(
            f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.REPORT_MD}",
            caption="../report/verdict.rst",
            category="Verdict",
        ),
        html=report(
            f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.REPORT_HTML}",
            caption="../report/verdict.rst",
            category="Verdict",
        ),
        plot=report(
            f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.LOSS_PLOT}",
            caption="../report/loss.rst",
            category="Verdict",
        ),
    log:
        f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.VERIFY_RULE_LOG}",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        bundle=lambda wc, input: Path(input.done).parents[1],
    shell:
        "{params.cli} verify {params.bundle:q} 2>&1 | tee {log:q}"
