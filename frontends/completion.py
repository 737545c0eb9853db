"""``starter.py completion bash|zsh``: shell completion generated from the CLI's own parser,
so every command, option and choice it knows completes, and a new saga's start command too.

The script is plain bash (zsh runs it through ``bashcompinit``): commands first, then the
command's options, an option's choices after it (``--state``), file names where a command
takes a file. It completes ``saga`` (the installed command) and ``starter.py``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

NAMES = ("saga", "starter.py")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    ]


def _positional_choices(parser: argparse.ArgumentParser) -> list[str]:
    """Choices of its positional arguments (``completion bash|zsh``, ``intervene … retry``)."""
    return [
        str(choice)
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
        for choice in action.choices or ()
    ]


def _valued(parser: argparse.ArgumentParser) -> Iterator[tuple[str, list[str]]]:
    """Options that take a value, each with its choices (empty: any value)."""
    for action in parser._actions:
        if action.option_strings and action.nargs != 0:
            choices = [str(choice) for choice in action.choices or ()]
            for option in action.option_strings:
                yield option, choices


def _words(words: list[str]) -> str:
    return shlex.quote(" ".join(words))


def bash_script(parser: argparse.ArgumentParser) -> str:
    """The bash completion function for ``parser``'s commands."""
    commands = _subcommands(parser)
    cases = [f'    " ") words={_words([*commands, *_options(parser)])} ;;']
    valued: dict[str, list[str]] = dict(_valued(parser))
    for name, command in commands.items():
        nested = _subcommands(command)
        valued.update(_valued(command))
        for sub_name, sub in nested.items():
            words = [*_positional_choices(sub), *_options(sub)]
            cases.append(f'    "{name} {sub_name}"*) words={_words(words)} ;;')
            valued.update(_valued(sub))
        words = [*nested, *_positional_choices(command), *_options(command)]
        cases.append(f'    "{name} "*) words={_words(words)} ;;')
    takes_value = " ".join(sorted(valued))
    value_cases = [
        f'      {option}) COMPREPLY=($(compgen -W {_words(choices)} -- "$cur")); return ;;'
        for option, choices in sorted(valued.items())
        if choices
    ]
    lines = [
        f"# {' and '.join(NAMES)} completion for bash (python starter.py completion bash)",
        "_saga_complete() {",
        "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}",
        '  local command="" sub="" word i words=""',
        f'  local takes_value=" {takes_value} "',
        '  if [[ $takes_value == *" $prev "* ]]; then',
        '    case "$prev" in',
        *value_cases,
        "    esac",
        '    COMPREPLY=($(compgen -f -- "$cur")); return',
        "  fi",
        "  for ((i = 1; i < COMP_CWORD; i++)); do",
        "    word=${COMP_WORDS[i]}",
        "    if [[ $word == -* ]]; then",
        '      [[ $takes_value == *" $word "* ]] && ((i++))',
        "      continue",
        "    fi",
        "    if [[ -z $command ]]; then command=$word",
        "    elif [[ -z $sub ]]; then sub=$word; fi",
        "  done",
        '  case "$command $sub" in',
        *cases,
        "  esac",
        '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        '  if [[ -n $command && $cur != -* ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi',
        "}",
        f"complete -o default -F _saga_complete {' '.join(NAMES)}",
    ]
    return "\n".join(lines) + "\n"


def zsh_script(parser: argparse.ArgumentParser) -> str:
    """The same, for zsh, through its bash completion layer."""
    return "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser)
